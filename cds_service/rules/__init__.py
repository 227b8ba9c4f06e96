"""Clinical rules: one module per problem family, each rule a small pure function.

How to add a rule
=================

1. Pick the family module (``seizure.py``, ``hypertension.py`` ...) or add a new one; the
   registry imports every module in this package whose name does not start with ``_``.
2. Put any family threshold at the top of the module as a named constant (with its source);
   thresholds that are deployment policy go in ``knowledge/policy.py`` and are read from
   ``facts.policy``. Codes never appear in rule code: use ``knowledge`` keys (finding keys
   such as ``"seizure"``, analyte keys such as ``"potassium"``, order bundle keys).
3. Write a pure function ``facts -> Finding | list[Finding] | None`` and decorate it::

       @rule(id="R10", title="Hypokalaemia", family="electrolytes", citation="RCEMK",
             needs=labs("potassium"), postpartum=True)
       def hypokalaemia(facts: PatientFacts) -> Finding | None:
           \"\"\"K below 3.5 mmol/L; severe below 2.5 (critical).\"\"\"

   The docstring is the rule's explanation. ``needs`` must list every value set the rule
   reads (``labs``, ``findings``, ``conditions``, ``blood_pressure``, ``medications``,
   ``draft_orders``); start-up refuses to run a service whose prefetch does not cover them.
   ``postpartum=True`` marks a "(P)" rule; ``when_unknown=True`` keeps a critical rule when
   pregnancy status is unknown; ``hooks=`` limits a rule to some hooks (e.g. order-sign).
4. Return a :class:`Finding` with the triggering data as ``evidence`` (use
   ``Measurement.evidence()`` / ``SymptomFact.evidence()``), a ``problem`` key (findings of
   one problem merge into one card), orders as bundle keys, ``cautions`` for what not to do.
   Use ``cap_preliminary`` so a preliminary result never makes a critical card alone.
   Never use the words "excluded", "unlikely" or "low risk"; never give a drug dose.
5. Add a positive fixture under ``fixtures/<case>/`` and unit tests in
   ``tests/clinical/test_<family>.py`` (positive, negative, exact boundary). The contract
   test (``tests/clinical/test_rule_contract.py``) fails until the rule has a citation, a
   fixture and covered data needs.
"""
