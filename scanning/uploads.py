"""Streaming artifact uploads straight to disk, hashing as the bytes arrive.

`ArtifactUploadHandler` replaces Django's upload handlers on the scan submission
views: the multipart body is written chunk by chunk to a private temporary file
under DATA_ROOT/<schema>/uploads/ (the same file system as the artifact store,
so keeping it is a rename), its SHA-256 is computed on the way, and the upload
stops as soon as it exceeds the size limit (the view answers 413). A request that
declares a too-large Content-Length is refused before its body is read.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload

FIELD = "file"


class StoredUpload(UploadedFile):
    """An uploaded artifact on disk, with its SHA-256. Closing it removes the file unless it was moved."""

    def __init__(self, file: Any, name: str, content_type: str, size: int, sha256: str, path: str) -> None:
        super().__init__(file, name, content_type, size, None)
        self.sha256 = sha256
        self.path = path

    def temporary_file_path(self) -> str:
        return self.path

    def close(self) -> None:
        try:
            self.file.close()
        finally:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class _TempFile:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, self.path = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=str(directory))
        self.handle = os.fdopen(fd, "wb+")

    def close(self) -> None:
        try:
            self.handle.close()
        finally:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class _Nothing:
    def close(self) -> None:
        return None


class ArtifactUploadHandler(FileUploadHandler):
    chunk_size = 1024 * 1024

    def __init__(self, request: Any = None, *, max_bytes: int, directory: Path) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.directory = directory
        self.too_large = False
        self.received = 0
        self._temp: _TempFile | None = None
        self._digest = hashlib.sha256()
        self._done = False

    def new_file(self, field_name: str, file_name: str, content_type: str, content_length: int | None,
                 charset: str | None = None, content_type_extra: dict[str, Any] | None = None) -> None:
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        if field_name != FIELD or self._done or self._temp is not None:
            raise SkipFile()
        self._temp = _TempFile(self.directory)

    @property
    def file(self) -> _TempFile | _Nothing:
        """What Django's parser closes when an upload stops (it expects `handler.file`)."""
        return self._temp or _Nothing()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if self._temp is None:
            return None
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.too_large = True
            self._temp.close()
            self._temp = None
            raise StopUpload(connection_reset=False)
        self._digest.update(raw_data)
        self._temp.handle.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> StoredUpload | None:
        if self._temp is None:
            return None
        temp = self._temp
        temp.handle.flush()
        temp.handle.seek(0)
        self._done = True
        self._temp = None
        return StoredUpload(temp.handle, self.file_name or "artifact", self.content_type or "", file_size,
                            self._digest.hexdigest(), temp.path)

    def upload_interrupted(self) -> None:
        if self._temp is not None:
            self._temp.close()
            self._temp = None


def install_handler(request: Any, *, max_bytes: int, directory: Path) -> ArtifactUploadHandler:
    """Replace the request's upload handlers (before anything reads the body)."""
    handler = ArtifactUploadHandler(request, max_bytes=max_bytes, directory=directory)
    request.upload_handlers = [handler]
    return handler
