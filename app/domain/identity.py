"""The person's identity: the fields that name a person or say how to reach them."""

from __future__ import annotations

#: Fields that say who a person is or how to reach them. The one list: a reverse auction
#: never makes them a default criterion nor shows them to sources (app/domain/wants.py);
#: a ping must not carry them (app/pipeline/validation.py).
IDENTITY_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "name",
        "full_name",
        "email",
        "phone",
        "mobile",
        "phone_2",
        "address",
        "address_1",
        "address_2",
        "address_line_1",
        "address_line_2",
        "street",
        "ip",
        "ip_address",
        "date_of_birth",
        "dob",
        "ssn",
        "trusted_form_url",
        "jornaya_lead_id",
    }
)


def is_identity(field: str) -> bool:
    """Tell whether a field names or reaches a person."""
    return field in IDENTITY_FIELDS
