"""Census and change files: reading CSV, XLSX and X12 834 into one normalised form
(`rows`), then diffing it against enrollment and pricing the difference."""
