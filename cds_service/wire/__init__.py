"""CDS Hooks 2.0 wire format: request, response, discovery and feedback models.

Wire names follow the spec exactly at the edge (``hookInstance``) and are Python
names inside (``hook_instance``) through pydantic aliases.  Responses are dumped
with :func:`dump_wire`, which omits every optional field that has no value, as
the spec's JSON rules require (D-8): never ``null``, ``""``, ``[]`` or ``{}``.
"""

from cds_service.wire.common import WireModel, dump_wire
from cds_service.wire.discovery import DiscoveryResponse, ServiceDescriptor
from cds_service.wire.feedback import (
    AcceptedSuggestion,
    FeedbackItem,
    FeedbackRequest,
    OverrideReason,
)
from cds_service.wire.request import (
    CdsRequest,
    EncounterStartContext,
    FhirAuthorization,
    OrderSelectContext,
    OrderSignContext,
    PatientViewContext,
    context_model_for,
)
from cds_service.wire.response import (
    Action,
    Card,
    CdsResponse,
    Coding,
    Link,
    Source,
    Suggestion,
)

__all__ = [
    "AcceptedSuggestion",
    "Action",
    "Card",
    "CdsRequest",
    "CdsResponse",
    "Coding",
    "DiscoveryResponse",
    "EncounterStartContext",
    "FeedbackItem",
    "FeedbackRequest",
    "FhirAuthorization",
    "Link",
    "OrderSelectContext",
    "OrderSignContext",
    "OverrideReason",
    "PatientViewContext",
    "ServiceDescriptor",
    "Source",
    "Suggestion",
    "WireModel",
    "context_model_for",
    "dump_wire",
]
