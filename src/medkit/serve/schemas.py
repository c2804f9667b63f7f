"""Request and response bodies of the HTTP API (they become the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Scalar = float | int | str | bool | None
Smiles = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClinicalRequest(_Strict):
    """Patient rows, one object per patient: ``{"feature": value, ...}``."""

    rows: list[dict[FieldName, Scalar]] = Field(min_length=1, max_length=100_000)
    explain: bool = False


class DrugRequest(_Strict):
    smiles: list[Smiles] = Field(min_length=1, max_length=1000)
    explain: bool = False


class ScreenRequest(_Strict):
    smiles: list[Smiles] = Field(min_length=1, max_length=100_000)


class TreatmentRequest(_Strict):
    patient: dict[FieldName, Scalar] = Field(min_length=1, max_length=500)
    explain: bool = False


class TokenRequest(_Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    name: str = Field("", max_length=64)


class UserRequest(_Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    role: Literal["admin", "clinician", "researcher"]


class StageRequest(_Strict):
    stage: Literal["staging", "production", "archived"]


class ModelRef(BaseModel):
    name: str
    version: int
    stage: str
    bundle_sha256: str


class PredictionResponse(BaseModel):
    """Every prediction names the model version that produced it and the sha256 of the input it saw."""

    model: ModelRef
    result: dict[str, Any]
    input_sha256: str


class JobModel(BaseModel):
    name: str
    version: int


class JobResponse(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    progress: float
    model: JobModel
    error: str | None
    status_url: str
    result_url: str


class JobResult(BaseModel):
    job: JobResponse
    result: dict[str, Any]


class VersionInfo(BaseModel):
    name: str
    version: int
    stage: str
    bundle_sha256: str
    created_at: str
    created_by: str
    metrics: dict[str, Any]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    has_card: bool


class ModelInfo(BaseModel):
    name: str
    pillar: str
    kind: str
    versions: list[VersionInfo]


class ModelCard(BaseModel):
    model: VersionInfo
    card_md: str


class TokenResponse(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: str


class UserResponse(BaseModel):
    username: str
    role: str


class AuditRecord(BaseModel):
    id: int
    at: str
    actor: str
    role: str
    action: str
    outcome: str
    model_name: str | None
    model_version: int | None
    input_sha256: str | None
    detail: str
    hash: str


class AuditPage(BaseModel):
    events: list[AuditRecord]
    chain_ok: bool


class Health(BaseModel):
    status: str
    version: str


class Ready(BaseModel):
    status: str
    database: str
    schema_revision: str | None


class ErrorDetail(BaseModel):
    type: str
    what: str
    where: str | None = None
    fix: str | None = None


class ErrorResponse(BaseModel):
    detail: str
    error: ErrorDetail | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": desc} for code, desc in [
        (400, "Malformed request (bad header, invalid user name or password policy)"),
        (401, "Not signed in, or the token is invalid, expired or revoked"),
        (403, "The role may not do this, or the CSRF token is missing"),
        (404, "Unknown model, version or job"),
        (409, "The job has not finished yet"),
        (413, "Upload larger than the limit"),
        (415, "Upload of an unsupported type"),
        (429, "Rate limit exceeded"),
        (503, "Database or model unavailable"),
    ]
}


# -- accounts -----------------------------------------------------------------------------------
class PasswordChangeRequest(_Strict):
    """Change your own password (also how a temporary password set by an administrator is replaced)."""

    username: str = Field(min_length=1, max_length=64)
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordChanged(BaseModel):
    username: str
    other_sessions_ended: bool = True


class PasswordReset(BaseModel):
    """A temporary password, shown once; the user must replace it before doing anything else."""

    username: str
    temporary_password: str
    must_change_password: bool = True


class TokenInfo(BaseModel):
    """An API token without its secret (only its sha256 is stored)."""

    id: int
    name: str
    owner: str
    status: Literal["active", "expired", "revoked"]
    created_at: str
    expires_at: str
