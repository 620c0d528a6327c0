"""The labelling page's server: a FastAPI application over a :class:`LabelProject` and its
:class:`Trainer`.

The page (``static/``: one HTML file, one script, one style sheet) asks the JSON API below for
the text to label next and commits each decision with a POST that returns only once SQLite has
it. What keeps a local tool safe: it answers only requests whose ``Host`` is this machine (no
DNS rebinding) unless given ``--host``, when every request must carry the access token (a
cookie the token link sets, or ``Authorization: Bearer``); a POST must be JSON (a page of
another site cannot send one without the browser asking first, and we never say yes); and the
Content-Security-Policy lets the page load nothing from elsewhere and run no inline script.
The script shows every text with ``textContent``: a text holding HTML is shown as text.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations.
import csv
import io
import json
from pathlib import Path
from typing import Any

from fewshot.errors import FewshotError
from fewshot.labelling.estimates import wilson_interval
from fewshot.util.access import is_loopback, token_matches
from fewshot.util.http_server import validation_detail

STATIC = Path(__file__).parent / "static"
COOKIE = "fewshot_label_token"
MAX_BODY_BYTES = 65_536
#: The page may load its own files and talk to its own server, nothing else.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_FILES = {"app.js": "text/javascript", "app.css": "text/css"}


def export_text(project, fmt: str) -> str:
    """The project's labels as a JSONL or CSV file's text (multi-label CSV: labels joined
    by ``|``, as fewshot reads them)."""
    rows = project.export_rows()
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    out = io.StringIO()
    columns = (["id"] if any("id" in r for r in rows) else []) + ["text"]
    columns.append("labels" if project.multi_label else "label")
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        if project.multi_label:
            row = {**row, "labels": "|".join(row["labels"])}
        writer.writerow(row)
    return out.getvalue()


def brief(decision) -> dict[str, Any] | None:
    """A decision as the page shows it."""
    if decision is None:
        return None
    return {"kind": decision.kind, "labels": list(decision.labels)}


def create_app(project, trainer, *, host: str = "127.0.0.1", token: str | None = None,
               export_model=None):  # fmt: skip
    """The ASGI application of the labelling page; ``export_model()`` writes the current
    model and returns its path."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, RedirectResponse, Response
    from pydantic import BaseModel, Field

    local_names = {"127.0.0.1", "localhost", "[::1]", host.lower()}

    class Decide(BaseModel):
        row: int = Field(ge=0)
        kind: str = Field("label", pattern="^(label|skip|none)$")
        labels: list[str] = Field(default_factory=list, max_length=1000)

    class NewClass(BaseModel):
        name: str = Field(min_length=1, max_length=200)

    app = FastAPI(title="fewshot label", docs_url=None, redoc_url=None, openapi_url=None)

    def refused(status: int, detail: str) -> Response:
        return JSONResponse({"detail": detail}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        name = request.headers.get("host", "").rsplit(":", 1)[0].lower()
        if token is None and is_loopback(host) and name not in local_names:
            return refused(421, "this page answers to 127.0.0.1 and localhost only")
        if token is not None:
            link = request.query_params.get("token")
            if request.url.path == "/" and link is not None and token_matches(link, token):
                answer = RedirectResponse("/", status_code=303)  # the token off the address bar
                answer.set_cookie(COOKIE, token, httponly=True, samesite="strict")
                return answer
            header = request.headers.get("authorization", "").removeprefix("Bearer ")
            if not token_matches(request.cookies.get(COOKIE) or header, token):
                return refused(401, "open the address with ?token= that fewshot label printed")
        if request.method == "POST":
            if request.headers.get("content-type", "").split(";")[0] != "application/json":
                return refused(415, "send JSON (Content-Type: application/json)")
            length = request.headers.get("content-length", "")
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                return refused(413, f"a body of at most {MAX_BODY_BYTES} bytes, with its length")
        answer = await call_next(request)
        answer.headers["Content-Security-Policy"] = CSP
        answer.headers["X-Content-Type-Options"] = "nosniff"
        answer.headers["Referrer-Policy"] = "no-referrer"
        answer.headers["Cache-Control"] = "no-store"
        return answer

    @app.get("/")
    def index() -> Response:
        return Response((STATIC / "index.html").read_bytes(), media_type="text/html")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in _FILES:
            raise HTTPException(404, "no such file")
        return Response((STATIC / name).read_bytes(), media_type=_FILES[name])

    def shown(row: int) -> dict[str, Any]:
        return {
            "row": row,
            "text": project.texts[row],
            "guesses": trainer.guesses(row),
            "drawn": row in trainer.drawn,
            "decision": brief(project.decisions().get(row)),
        }

    def audit() -> dict[str, Any]:
        found = project.audit()
        if found["n"]:
            found["accuracy"] = found["correct"] / found["n"]
            found["low"], found["high"] = wilson_interval(found["correct"], found["n"])
        return {**found, "every": trainer.audit_every}

    def check_row(row: int) -> None:
        if not 0 <= row < len(project.texts):
            raise HTTPException(404, f"row {row} is not in the pool")

    @app.get("/api/state")
    def state() -> dict[str, Any]:
        return {
            "project": str(project.directory),
            "pool": project.pool,
            "multi_label": project.multi_label,
            "classes": project.classes(),
            "counts": project.counts(),
            "training": trainer.snapshot(),
            "learner": trainer.spec.name,
            "retrain_every": trainer.retrain_every,
            "estimates": project.estimates(),
            "audit": audit(),
            "suspects": trainer.suspects,
            "version": project.version(),
        }

    @app.get("/api/next")
    def next_text(skip: int | None = None, wait: bool = False) -> dict[str, Any]:
        """The text to label now; ``wait=true`` waits for a refit that is due first, so that
        a script sees the same texts in the same order on every run."""
        if wait and not trainer.caught_up():
            raise HTTPException(503, f"the model did not refit: {trainer.snapshot()}")
        row = trainer.next_row({skip} if skip is not None else None)
        return {"row": None} if row is None else shown(row)

    @app.get("/api/text/{row}")
    def text(row: int) -> dict[str, Any]:
        check_row(row)
        return shown(row)

    @app.post("/api/decide")
    def decide(body: Decide) -> dict[str, Any]:
        check_row(body.row)
        try:
            event = project.record(
                body.row,
                body.kind,
                body.labels,
                predicted=trainer.prediction(body.row),
                drawn=body.row in trainer.drawn,
            )
        except FewshotError as exc:  # an unknown class, two labels in a single-label project
            raise HTTPException(422, str(exc)) from None
        trainer.notify()
        return {"event": event, "counts": project.counts()}

    @app.post("/api/undo")
    def undo() -> dict[str, Any]:
        undone = project.undo()
        trainer.notify()
        if undone is None:
            return {"undone": None}
        return {"undone": {"kind": undone.kind, "labels": list(undone.labels)}, **shown(undone.row)}

    @app.post("/api/classes")
    def add_class(body: NewClass) -> dict[str, Any]:
        try:
            added = project.add_class(body.name)
        except FewshotError as exc:
            raise HTTPException(422, str(exc)) from None
        if added:
            trainer.refit_soon()
        return {"added": added, "classes": project.classes()}

    @app.get("/api/search")
    def search(q: str = "", limit: int = 50) -> dict[str, Any]:
        if not q.strip():
            return {"rows": []}
        decisions = project.decisions()
        rows = project.search(q.strip(), min(max(limit, 1), 200))
        return {
            "rows": [
                {"row": row, "text": project.texts[row], "decision": brief(decisions.get(row))}
                for row in rows
            ]
        }

    @app.get("/api/labels")
    def labels(limit: int = 100) -> dict[str, Any]:
        decisions = sorted(project.decisions().values(), key=lambda d: -d.event)
        return {
            "rows": [
                {"row": d.row, "text": project.texts[d.row], **brief(d)}
                for d in decisions[: min(max(limit, 1), 1000)]
            ]
        }

    @app.get("/api/export/labels")
    def export_labels(format: str = "jsonl") -> Response:
        if format not in ("jsonl", "csv"):
            raise HTTPException(422, "format is jsonl or csv")
        media = "application/x-ndjson" if format == "jsonl" else "text/csv"
        return Response(
            export_text(project, format).encode("utf-8", "surrogateescape"),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="labels.{format}"'},
        )

    @app.post("/api/export/model")
    def export() -> dict[str, Any]:
        if export_model is None:
            raise HTTPException(404, "this server does not export models")
        try:
            path, labelled = export_model()
        except FewshotError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"path": str(path), "labels": labelled}

    return app
