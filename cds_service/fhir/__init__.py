"""FHIR access: prefetch interpretation, the FHIR client (deadline, paging), parsing."""
