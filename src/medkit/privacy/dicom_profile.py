"""DICOM PS3.15 Annex E, Table E.1-1: Basic Application Level Confidentiality Profile actions per attribute.

Action codes (PS3.15 E.3.1): ``D`` replace with a dummy value of the same VR, ``Z`` replace with a zero-length
value, ``X`` remove, ``K`` keep, ``U`` replace the UID with a consistently re-mapped one. Composite codes
(``X/Z``, ``Z/D``, ``X/D``, ``X/Z/D``, ``X/Z/U*``) are resolved by :func:`resolve_action` to the
conservative single action medkit applies. The table holds the attributes of Table E.1-1 that occur in
clinical files (about 200 of ~500 rows, by keyword); every other instance UID is still re-mapped (any ``UI``
value outside the DICOM root 1.2.840.10008), all private attributes and curve/overlay data are removed.
"""

from __future__ import annotations

_X = ("AcquisitionComments AcquisitionContextSequence AcquisitionDeviceProcessingDescription "
      "AcquisitionProtocolDescription ActualHumanPerformersSequence AdditionalPatientHistory AdmissionID "
      "AdmittingDate AdmittingDiagnosesCodeSequence AdmittingDiagnosesDescription AdmittingTime Allergies Arbitrary "
      "AuthorObserverSequence BranchOfService CassetteID CommentsOnThePerformedProcedureStep "
      "ConfidentialityConstraintOnPatientDataDescription ContentCreatorIdentificationCodeSequence "
      "ContributionDescription CountryOfResidence CurrentPatientLocation CurveDate CurveTime "
      "CustodialOrganizationSequence DataSetTrailingPadding DerivationDescription DetectorID "
      "DigitalSignaturesSequence DischargeDiagnosisDescription DistributionAddress DistributionName EthnicGroup "
      "FrameComments GantryID GeneratorID HumanPerformerName HumanPerformerOrganization IconImageSequence "
      "IdentifyingComments ImageComments ImagePresentationComments ImagingServiceRequestComments Impressions "
      "InstanceCreationDate InstanceCreationTime InstitutionAddress InstitutionalDepartmentName "
      "InsurancePlanIdentification IntendedRecipientsOfResultsIdentificationSequence "
      "InterpretationApproverSequence InterpretationAuthor InterpretationDiagnosisDescription InterpretationIDIssuer "
      "InterpretationRecorder InterpretationText InterpretationTranscriber IssuerOfAdmissionID IssuerOfPatientID "
      "IssuerOfServiceEpisodeID MAC MedicalAlerts MedicalRecordLocator MilitaryRank ModifiedAttributesSequence "
      "ModifiedImageDescription ModifyingDeviceID NameOfPhysiciansReadingStudy NamesOfIntendedRecipientsOfResults "
      "Occupation OperatorIdentificationSequence OperatorsName OrderCallbackPhoneNumber OrderEnteredBy "
      "OrderEntererLocation OriginalAttributesSequence OtherPatientIDs OtherPatientIDsSequence OtherPatientNames "
      "ParticipantSequence PatientAddress PatientAge PatientBirthName PatientBirthTime PatientComments "
      "PatientInsurancePlanCodeSequence PatientMotherBirthName PatientPrimaryLanguageCodeSequence "
      "PatientReligiousPreference PatientSize PatientState PatientTelephoneNumbers PatientTransportArrangements "
      "PatientWeight PerformedLocation PerformedProcedureStepDescription PerformedProcedureStepEndDate "
      "PerformedProcedureStepEndTime PerformedProcedureStepID PerformedProcedureStepStartDate "
      "PerformedProcedureStepStartTime PerformingPhysicianIdentificationSequence PerformingPhysicianName "
      "PersonAddress PersonTelephoneNumbers PhysicianApprovingInterpretation "
      "PhysiciansOfRecord PhysiciansOfRecordIdentificationSequence PhysiciansReadingStudyIdentificationSequence "
      "PlateID PreMedication PregnancyStatus ReasonForStudy ReasonForTheImagingServiceRequest "
      "ReferencedDigitalSignatureSequence ReferencedPatientAliasSequence ReferencedPatientSequence "
      "ReferencedSOPInstanceMACSequence ReferringPhysicianAddress ReferringPhysicianIdentificationSequence "
      "ReferringPhysicianTelephoneNumbers RegionOfResidence RequestAttributesSequence RequestedContrastAgent "
      "RequestedProcedureComments RequestedProcedureID RequestedProcedureLocation RequestingPhysician "
      "RequestingService ResponsibleOrganization ResponsiblePerson ResultsComments ResultsDistributionListSequence "
      "ResultsIDIssuer ScheduledHumanPerformersSequence ScheduledPatientInstitutionResidence "
      "ScheduledPerformingPhysicianIdentificationSequence ScheduledPerformingPhysicianName "
      "ScheduledProcedureStepDescription ScheduledProcedureStepEndDate ScheduledProcedureStepEndTime "
      "ScheduledProcedureStepLocation ScheduledProcedureStepStartDate ScheduledProcedureStepStartTime "
      "ScheduledStationAETitle ScheduledStationGeographicLocationCodeSequence ScheduledStationName "
      "ScheduledStationNameCodeSequence ScheduledStudyLocation ScheduledStudyLocationAETitle SeriesDate "
      "SeriesDescription SeriesTime ServiceEpisodeDescription ServiceEpisodeID SmokingStatus SpecialNeeds "
      "StudyComments StudyDescription StudyIDIssuer TextComments TextString TimezoneOffsetFromUTC TopicAuthor "
      "TopicKeywords TopicSubject TopicTitle VerifyingOrganization VisitComments AcquisitionDate AcquisitionTime "
      "OverlayDate OverlayTime PatientSexNeutered ReferencedStudySequence RequestedProcedureDescription "
      "FailedSOPInstanceUIDList ReviewerName ProtocolName DeviceSerialNumber InstitutionName StationName "
      "InstitutionCodeSequence AcquisitionDateTime ReferencedPerformedProcedureStepSequence ContentSequence")

_Z = ("AccessionNumber ContentCreatorName PatientBirthDate PatientID PatientName PatientSex ReferringPhysicianName "
      "StudyDate StudyID StudyTime VerifyingObserverIdentificationCodeSequence ContentDate ContentTime "
      "ContrastBolusAgent GraphicAnnotationSequence")

_D = "PersonIdentificationCodeSequence PersonName VerifyingObserverName VerifyingObserverSequence"

_U = ("DeviceUID FrameOfReferenceUID InstanceCreatorUID IrradiationEventUID LargePaletteColorLookupTableUID "
      "MediaStorageSOPInstanceUID ReferencedFrameOfReferenceUID "
      "ReferencedGeneralPurposeScheduledProcedureStepTransactionUID ReferencedSOPInstanceUID "
      "RelatedFrameOfReferenceUID RequestedSOPInstanceUID SeriesInstanceUID SOPInstanceUID StorageMediaFileSetUID "
      "StudyInstanceUID SynchronizationFrameOfReferenceUID TemplateExtensionCreatorUID "
      "TemplateExtensionOrganizationUID TransactionUID UID")

# Sequences kept (X/Z/U*) whose items are processed recursively: their UIDs are re-mapped.
_RECURSE = "ReferencedImageSequence SourceImageSequence ReferencedSeriesSequence"

BASIC_PROFILE: dict[str, str] = {}
for _codes, _action in ((_X, "X"), (_Z, "Z"), (_D, "D"), (_U, "U"), (_RECURSE, "K")):
    for _kw in _codes.split():
        BASIC_PROFILE[_kw] = _action

DICOM_ROOT = "1.2.840.10008."  # registered DICOM UIDs (SOP classes, transfer syntaxes) are never re-mapped

# Dummy values for "D" by VR (valid for the VR, obviously not real).
DUMMY = {"PN": "ANONYMOUS", "LO": "ANONYMIZED", "SH": "ANON", "LT": "ANONYMIZED", "ST": "ANONYMIZED",
         "UT": "ANONYMIZED", "CS": "ANON", "DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000Y",
         "IS": "0", "DS": "0", "AE": "ANON", "UC": "ANONYMIZED", "UR": "", "SQ": None}


def resolve_action(code: str) -> str:
    """Single action for a (possibly composite) PS3.15 code: keep type-2 attributes present but empty."""
    if code in {"X/Z", "Z/D", "X/Z/D"}:
        return "Z"
    if code == "X/D":
        return "X"
    if code == "X/Z/U*":
        return "K"
    return code
