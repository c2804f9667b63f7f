"""medkit.privacy: de-identification, k-anonymity, differential privacy and federated training.

Modules (import them directly; nothing heavy is imported here):

* :mod:`~medkit.privacy.text_deid` - :class:`TextDeidentifier` (patterns + dictionaries + CRF tagger,
  consistent surrogates, per-patient date shifting); :mod:`~medkit.privacy.text_workflow` trains it on the
  PhysioNet deid corpus; :mod:`~medkit.privacy.text_eval` scores detection.
* :mod:`~medkit.privacy.dicom_deid` - DICOM PS3.15 Basic Application Level Confidentiality Profile.
* :mod:`~medkit.privacy.kanon` - generalisation, k-anonymity, l-diversity, export refusal.
* :mod:`~medkit.privacy.dp` - :func:`make_dp_setup_hook` (Opacus DP-SGD through the Trainer).
* :mod:`~medkit.privacy.federated` - Flower FedAvg / FedProx with one process per site on loopback.
"""
