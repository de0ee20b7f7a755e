"""Editable installs read tasks/ and reports/ from the checkout, so only the
.pth autoload file is copied into site-packages for them."""

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        if self.target_name == "wheel" and version == "editable":
            build_data["force_include_editable"] = {"lm_eval_ext.pth": "lm_eval_ext.pth"}
