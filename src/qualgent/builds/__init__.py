"""Reading the identity of uploaded mobile builds (APK, AAB, IPA)."""

from qualgent.builds.inspect import BuildInfo, InvalidBuild, inspect_build

__all__ = ["BuildInfo", "InvalidBuild", "inspect_build"]
