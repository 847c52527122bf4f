"""Run by the interpreter of `make sdk-venv`: Webull's official SDK 3.0.4, unmodified, against a
sandbox: config, token create (and check while 2FA is on), then a signed account list.

Arguments: port app_key app_secret token_dir.  Prints the answer as JSON.
"""
import json
import sys

from webull.core import request as sdk_request
from webull.core.client import ApiClient
from webull.core.http import protocol_type
from webull.core.http.initializer.client_initializer import ClientInitializer
from webull.trade.request.v2.get_account_list import GetAccountList

port, app_key, app_secret, token_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
sdk_request.set_default_protocol_type(protocol_type.HTTP)
client = ApiClient(app_key, app_secret, "us", port=port, token_check_duration_seconds=20,
                   token_check_interval_seconds=1)
client.add_endpoint("us", "127.0.0.1")
client.set_token_dir(token_dir)
ClientInitializer.initializer(client)
response = client.get_response(GetAccountList())
print(json.dumps({"status": response.status_code, "body": response.json()}))
