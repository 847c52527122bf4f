from __future__ import annotations

import attrs
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import http_url


@attrs.frozen
class AcmeSettings:
    client_id: str = attrs.field(metadata={"help": "the client id Acme issued"})
    client_secret: Secret = attrs.field(metadata={"help": "the client secret (a reference)"})
    base_url: str = attrs.field(
        default="https://api.acme.example",
        validator=http_url(example="https://api.acme.example"),
        metadata={"help": "Acme's API root (http:// only for a local sandbox)"},
    )

    @property
    def api_base_url(self) -> str:
        return self.base_url
