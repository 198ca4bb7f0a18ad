"""The app ``rosetta-cl ui`` serves: MLflow's own tracking server (plain, or with its basic-auth
app), whose page opens on the runs table instead of GenAI's Overview.

MLflow 3.17's UI picks between its two views on the client: the URL's ``?workflowType=`` or the
browser's localStorage key ``mlflow.workflowType_v1`` (JSON), else ``genai``, so a fresh browser
that clicks an experiment sees "Traces 0" and no runs (the ``mlflow.experimentKind`` tag does not
change that). The page served here sets that key to ``machine_learning`` when the browser has no
choice stored yet; a user who toggles the view keeps their choice. Registered as MLflow apps
(entry points ``mlflow.app``: ``rosetta-cl``, ``rosetta-cl-auth``), which ``mlflow server
--app-name`` loads in its worker.
"""

from __future__ import annotations

import json

WORKFLOW_KEY = "mlflow.workflowType_v1"  # MLflow 3.17's useLocalStorage key (name + _v<version>)
WORKFLOW = "machine_learning"  # the runs table; MLflow's other value is "genai"
_KEY, _VALUE = json.dumps(WORKFLOW_KEY), json.dumps(json.dumps(WORKFLOW))
DEFAULT_VIEW_SCRIPT = ("<script>try{if(localStorage.getItem(" + _KEY + ")===null)"
                       "localStorage.setItem(" + _KEY + "," + _VALUE + ")}catch(e){}</script>")


def with_default_view(html: bytes) -> bytes:
    """``html`` (MLflow's index.html) with :data:`DEFAULT_VIEW_SCRIPT` first in its head, so it
    runs before the UI's bundle (a deferred script) reads the key."""
    head = html.find(b"<head>")
    if head < 0 or DEFAULT_VIEW_SCRIPT.encode() in html:
        return html
    at = head + len(b"<head>")
    return html[:at] + DEFAULT_VIEW_SCRIPT.encode() + html[at:]


def add_default_view(flask_app) -> None:
    """An ``after_request`` hook on MLflow's Flask app that rewrites its index page."""

    @flask_app.after_request
    def _default_view(response):
        if response.status_code != 200 or response.mimetype != "text/html":
            return response
        response.direct_passthrough = False  # send_from_directory streams the file
        response.set_data(with_default_view(response.get_data()))
        return response


def create_app():
    """``mlflow server --app-name rosetta-cl``: MLflow's server, default view set."""
    from mlflow.server import app as flask_app
    from mlflow.server.fastapi_app import create_fastapi_app

    add_default_view(flask_app)
    return create_fastapi_app(flask_app)


def create_auth_app():
    """``mlflow server --app-name rosetta-cl-auth``: MLflow's basic-auth app (it creates the
    admin user in the worker), default view set."""
    from mlflow.server import app as flask_app
    from mlflow.server.auth import create_app as create_basic_auth_app

    add_default_view(flask_app)
    return create_basic_auth_app(flask_app)
