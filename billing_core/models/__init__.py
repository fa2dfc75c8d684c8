"""Every model, imported here so Alembic's autogenerate and `Base.metadata` see every table.
The modules imported with * list their models in their own __all__."""

from billing_core.models.adjustment import Adjustment
from billing_core.models.audit import AuditLog, MailPreference, OutboxMessage
from billing_core.models.billing_run import BillingRun, BillingRunChunk
from billing_core.models.broker import Broker, BrokerAgency, BrokerOfRecord
from billing_core.models.collections import (
    CancelledCoverage,
    DelinquencyAction,
    DelinquencyDispute,
    DelinquencyPlan,
    DelinquencyStep,
    DelinquencyTransition,
    GroupCancellation,
    GroupDelinquency,
    GroupDelinquencyPlan,
    Moratorium,
)
from billing_core.models.collections_legal import *  # noqa: F403
from billing_core.models.commissions import *  # noqa: F403
from billing_core.models.enums import *  # noqa: F403
from billing_core.models.group import BenefitClass, BillingPolicy, BillingSubgroup, EmployerGroup
from billing_core.models.invoice import CreditMemo, Invoice, InvoiceLine, InvoicePlanTotal
from billing_core.models.invoice_templates import *  # noqa: F403
from billing_core.models.ledger import JournalEntry, LedgerAccount, Posting
from billing_core.models.member import Coverage, CoveredDependent, Dependent, Member
from billing_core.models.payment import (
    Checkout,
    Payment,
    PaymentAllocation,
    Refund,
    RemittanceDetail,
    RemittanceFile,
    SuspenseItem,
    WebhookEvent,
    WriteOffRequest,
)
from billing_core.models.payment_plans import *  # noqa: F403
from billing_core.models.product import (
    AgeReduction,
    Plan,
    Product,
    RateAgeBand,
    RateTier,
    RateVersion,
)
from billing_core.models.rate_changes import *  # noqa: F403
from billing_core.models.setup_draft import *  # noqa: F403
from billing_core.models.upload import CensusColumnMapping, Upload
from billing_core.models.user import (
    GroupAdministrator,
    User,
    UserGroupAccess,
    UserInvitation,
)
from billing_core.models.watchlist import *  # noqa: F403

__all__ = [
    "Adjustment",
    "AgeReduction",
    "AuditLog",
    "BenefitClass",
    "BillingPolicy",
    "BillingRun",
    "BillingRunChunk",
    "BillingSubgroup",
    "Broker",
    "BrokerAgency",
    "BrokerOfRecord",
    "CancelledCoverage",
    "CensusColumnMapping",
    "Checkout",
    "Coverage",
    "CoveredDependent",
    "CreditMemo",
    "DelinquencyAction",
    "DelinquencyDispute",
    "DelinquencyPlan",
    "DelinquencyStep",
    "DelinquencyTransition",
    "Dependent",
    "EmployerGroup",
    "GroupAdministrator",
    "GroupCancellation",
    "GroupDelinquency",
    "GroupDelinquencyPlan",
    "Invoice",
    "InvoiceLine",
    "InvoicePlanTotal",
    "JournalEntry",
    "LedgerAccount",
    "MailPreference",
    "Member",
    "Moratorium",
    "OutboxMessage",
    "Payment",
    "PaymentAllocation",
    "Plan",
    "Posting",
    "Product",
    "RateAgeBand",
    "RateTier",
    "RateVersion",
    "Refund",
    "RemittanceDetail",
    "RemittanceFile",
    "SuspenseItem",
    "Upload",
    "User",
    "UserGroupAccess",
    "UserInvitation",
    "WebhookEvent",
    "WriteOffRequest",
]
