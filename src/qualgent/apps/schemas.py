"""Response shapes of /v1/apps (the upload's form is described in the route)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from qualgent.api.shapes import Id, Platform, Shape, Timestamp


class AppFileRecord(Shape):
    """The full record of a build, with a download link valid 5 minutes."""

    id: Id
    file_path: str
    filename: str
    original_name: str
    file_size: int
    file_type: str
    app_name: str
    version: str
    os: Platform
    package_name: str
    version_name: str | None
    version_code: str | None
    label: str | None
    sha256: str
    user_id: Id
    organization_id: Id
    created_at: Timestamp
    link: str


class AppFileResponse(Shape):
    success: bool
    file: AppFileRecord


class AppListItem(Shape):
    id: Id
    name: str = Field(description="The uploaded file's original name")
    version: str
    os: Literal["android", "ios"]
    link: str = Field(description="Pre-signed download URL, valid 5 minutes")
    app_name: str
    package_name: str
    file_size: int
    created_at: Timestamp


class AppList(Shape):
    success: bool
    files: list[AppListItem]


class DeletedApps(Shape):
    success: bool
    deleted: list[Id]


class DeleteApps(BaseModel):
    files: list[Id] = Field(min_length=1, max_length=100)
