"""ARM errors -> the suite's verdicts.

- the article's size or header refused (retired / not allowed) -> DocDrift, with ARM's own message
- quota exhausted                                               -> BackendUnavailable, with the quota message
- authentication failed                                         -> BackendUnavailable, one line naming the
                                                                   credential chain that was tried
- anything else                                                 -> ArmOperationFailed (verdict fail) with
                                                                   ARM's error code and message
"""

from __future__ import annotations

import re

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from gpuconf.backends.base import BackendUnavailable, DocDrift

# Rule ids shared with gpuconf.checks.drift, so a refusal measured here and a drift predicted there match.
RULE_RETIRED_VM_SIZE = "retired-vm-size"
RULE_RETIRED_DEDICATED_VHD = "retired-gpu-dedicated-vhd"
RULE_RETIRED_HEADER = "retired-custom-header"

# What DefaultAzureCredential tries, in order (azure-identity 1.27), for when its message lists none.
DEFAULT_CHAIN = (
    "EnvironmentCredential",
    "WorkloadIdentityCredential",
    "ManagedIdentityCredential",
    "SharedTokenCacheCredential",
    "VisualStudioCodeCredential",
    "AzureCliCredential",
    "AzurePowerShellCredential",
    "AzureDeveloperCliCredential",
)
_SIZE_REFUSED = re.compile(
    r"VM size .* (is )?not (allowed|available|supported)|SkuNotAvailable|VMSizeNotSupported|"
    r"size .* (has been )?(retired|deprecated)",
    re.I,
)
_QUOTA_CODES = {
    "QuotaExceeded",
    "ErrCode_InsufficientVCPUQuota",
    "OperationNotAllowed",
    "InsufficientVCPUQuota",
}


class ArmOperationFailed(RuntimeError):
    """An ARM call failed for a reason that is neither drift nor missing infrastructure: verdict fail."""

    def __init__(self, what: str, code: str, message: str) -> None:
        super().__init__(f"{what} failed: ARM {code}: {message}")
        self.code = code
        self.arm_message = message


class ArmTimeout(ArmOperationFailed):
    def __init__(self, what: str, timeout_s: float, state: str) -> None:
        super().__init__(what, "Timeout", f"still {state} after {timeout_s:g} s")


def one_line(text: str) -> str:
    return " ".join(text.split())


def arm_code_and_message(err: HttpResponseError) -> tuple[str, str]:
    """ARM's error code and message, from the OData error azure-core parsed (sync errors and failed LROs)."""
    odata = getattr(err, "error", None)
    code = getattr(odata, "code", None) or (err.reason or "") or str(err.status_code or "Error")
    message = getattr(odata, "message", None) or err.message or str(err)
    return str(code), one_line(str(message))


def auth_failure(err: Exception, credential: str) -> BackendUnavailable:
    tried = [name for name in re.findall(r"^\s*(\w+Credential):", str(err), flags=re.M)
             if name != "DefaultAzureCredential"]  # fmt: skip
    if credential == "DefaultAzureCredential":
        chain = ", ".join(dict.fromkeys(tried)) or ", ".join(DEFAULT_CHAIN)
        return BackendUnavailable(
            f"Azure authentication failed: DefaultAzureCredential tried {chain}; "
            "run `az login`, set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or GPUCONF_ARM_TOKEN"
        )
    return BackendUnavailable(f"Azure authentication failed: ARM rejected {credential}; refresh the token")


def to_verdict(
    err: Exception, what: str, credential: str, headers: dict[str, str] | None = None
) -> Exception:
    """The exception to raise for `err` raised while doing `what` (e.g. "creating agent pool gpu")."""
    # ClientAuthenticationError is what a credential raises (no response) and what ARM's 401 becomes.
    if isinstance(err, ClientAuthenticationError) or (
        isinstance(err, HttpResponseError) and err.status_code == 401
    ):
        return auth_failure(err, credential)
    if not isinstance(err, HttpResponseError):
        return err
    code, message = arm_code_and_message(err)
    header_hit = [h for h in (headers or {}) if h.lower() in message.lower()]
    if header_hit:
        rule = (
            RULE_RETIRED_DEDICATED_VHD
            if header_hit[0].lower() == "usegpudedicatedvhd"
            else RULE_RETIRED_HEADER
        )
        return DocDrift(rule, f"{what}: ARM refused header {header_hit[0]}: {code}: {message}")
    # Size before quota: ARM's size refusal links to aka.ms/aks/quotas-skus-regions.
    if _SIZE_REFUSED.search(message) or _SIZE_REFUSED.search(code):
        return DocDrift(RULE_RETIRED_VM_SIZE, f"{what}: ARM refused the VM size: {code}: {message}")
    if code in _QUOTA_CODES or re.search(r"\bquota\b", message, re.I):
        return BackendUnavailable(f"{what}: quota exceeded: {code}: {message}")
    return ArmOperationFailed(what, code, message)
