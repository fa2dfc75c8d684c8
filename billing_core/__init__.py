"""The billing domain: rating, enrollment, invoicing, ledger, payments. Framework-free."""

import pandas as _pandas

# pandas 3 keeps text columns in Arrow arrays whenever pyarrow is installed, which it is for
# the census CSV parser alone (census.tabular.files): its columns of text stay Python strings,
# as they were before pyarrow came (the readers' checks and speed were measured on those).
_pandas.set_option("mode.string_storage", "python")
