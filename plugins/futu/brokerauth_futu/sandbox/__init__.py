"""This broker's local emulator (``server``) and the walkthrough ``brokerauth demo`` runs
against it (``demo``), for the entry-point group ``brokerauth.sandbox``; needs the
``[sandbox]`` extra.  Importing the plugin itself never imports this package."""

from brokerauth_sandbox.emulators import Emulator

EMULATOR = Emulator(
    server="brokerauth_futu.sandbox.server:FutuSandbox",
    demo="brokerauth_futu.sandbox.demo:scenario",
    options="brokerauth_futu.sandbox.server:add_arguments",
)
