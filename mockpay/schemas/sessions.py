"""createVaultingSession request body."""
from __future__ import annotations

from .fields import AmsBoolean, AmsString
from .vaulting import ID, ISO_REGION, URL, AmsSchema


class CreateVaultingSessionSchema(AmsSchema):
    paymentMethodType = AmsString(64, required=True, choices=("CARD",), ignore_case=True)
    vaultingRequestId = AmsString(ID, required=True, ascii_only=True)
    vaultingNotificationUrl = AmsString(URL, ascii_only=True)
    redirectUrl = AmsString(URL, ascii_only=True)
    merchantRegion = AmsString(2, **ISO_REGION)
    # "true"/"false" as documented; the Python SDK sends whatever the merchant set (a bool, usually)
    is3DSAuthentication = AmsBoolean()


create_vaulting_session = CreateVaultingSessionSchema()
