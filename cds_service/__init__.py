"""prenatal-cds: a CDS Hooks 2.0 service for cramps and convulsions in pregnancy."""

__version__ = "0.1.0"
