"""Request bodies read within a limit (SPEC §17): the desk's uploads, appeals and forms are read
whole into memory, so each is cut off at its size (413) before it is parsed, and a form holds
at most so many fields and files. The API and the pages read their forms here."""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

FORM_SLACK = 64 * 1024  # bytes a form's other fields and boundaries may add to its file


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body; 413 once it passes `limit` bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"a request is at most {limit // (1024 * 1024)} MB")
    return body


async def read_form(
    request: Request, limit: int, max_fields: int = 10
) -> dict[str, str | tuple[str, bytes]]:
    """A form (multipart or URL-encoded) read within `limit` bytes plus FORM_SLACK: text
    fields, and files as (name, bytes); 415 for another body, 422 for an unreadable form."""
    body = await read_body(request, limit + FORM_SLACK)

    async def chunks():
        yield body

    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/x-www-form-urlencoded":
            form = await FormParser(request.headers, chunks(), max_fields=max_fields).parse()
        elif kind == "multipart/form-data":
            parser = MultiPartParser(request.headers, chunks(), max_files=2, max_fields=max_fields)
            form = await parser.parse()
        else:
            raise HTTPException(415, "send a form: multipart/form-data")
    except MultiPartException as exc:
        raise HTTPException(422, f"not a readable form: {exc.message}") from None
    fields: dict[str, str | tuple[str, bytes]] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            fields[key] = (value.filename or "", await value.read())
        else:
            fields[key] = value
    await form.close()
    return fields
