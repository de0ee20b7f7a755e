"""The `xquad` family entry of lm_eval_ext.data.FAMILIES (implementation: lm_eval_ext.qa)."""

from lm_eval_ext import qa


def required_files(**kw):
    return qa.required_files(family="xquad", **kw)


def load_local(root, **kw):
    return qa.load_local(root, family="xquad", **kw)


def load_hub(**kw):
    return qa.load_hub(family="xquad", **kw)
