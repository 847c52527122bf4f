"""brokerauth plugin for Webull OpenAPI: HMAC request signing (``webull-hmac``), the 2FA
access token (``webull-2fa``), the named environments, streaming (trade events over gRPC,
quote subscriptions), and a local sandbox of the server.

Modules: :mod:`~brokerauth_webull.signing` (pure signer), :mod:`~brokerauth_webull.settings`,
:mod:`~brokerauth_webull.environments`, :mod:`~brokerauth_webull.endpoints`,
:mod:`~brokerauth_webull.codes` (Webull's errors and token statuses),
:mod:`~brokerauth_webull.sdk_token` (import the official SDK's token file),
:mod:`~brokerauth_webull.twofactor` (the ``webull-2fa`` token flow),
:mod:`~brokerauth_webull.grpc_signing` (pure signer of gRPC metadata),
:mod:`~brokerauth_webull.grpc_auth` (the trade-events interceptor; needs the ``grpc`` extra),
:mod:`~brokerauth_webull.events_messages` (the trade-events messages, without protobuf),
:mod:`~brokerauth_webull.streaming` (the signed quote subscription calls),
:mod:`~brokerauth_webull.verifier` and :mod:`~brokerauth_webull.sandbox.server` (the emulator;
:mod:`~brokerauth_webull.sandbox.events` its trade-events server),
:mod:`~brokerauth_webull.plugin` (the hooks).
"""

__version__ = "0.1.0"
