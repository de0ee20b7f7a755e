# Excerpt: get_type() of examples/nllb/modeling/evaluation/generate_multi.py in facebookresearch/fairseq,
# branch nllb, commit ec0ae71a24fbc2f42252f37735f59dd6547eba38. Copyright (c) Meta Platforms, Inc. and
# affiliates; MIT licence (the LICENSE file of that repository). Kept verbatim as the source of the
# NLLB resource levels (tasks/flores/_registry.py reads the thresholds from the comment below).

def get_type(pair):
    if "-" not in pair:
        return None
    from examples.nllb.modeling.evaluation.train_example_count import flores200_public
    from examples.nllb.modeling.evaluation.train_example_count.code_mapping import (
        lang_code_map,
    )

    train_counts2 = flores200_public.train_counts
    # High resource +1M, low resource 0-1M; Very low resource <0.1M
    low_limits = {"high": 1000000, "low": 0, "v_low": 0}
    high_limits = {"high": 10000000000, "low": 1000000, "v_low": 100000}
    src, tgt = pair.split("-")
    if src not in train_counts2 or tgt not in train_counts2:
        if src in lang_code_map:
            src = lang_code_map[src]
        if tgt in lang_code_map:
            tgt = lang_code_map[tgt]
        if src not in train_counts2 or tgt not in train_counts2:
            print(f"{src} or {tgt} is not in train_counts")
            return None
    count = min(train_counts2[src], train_counts2[tgt])
    resource = None
    for t in low_limits.keys():
        if count >= low_limits[t] and count <= high_limits[t]:
            resource = t
            break
    vlow_res = None
    if count >= low_limits["v_low"] and count <= high_limits["v_low"]:
        vlow_res = "v_low"

    return resource, vlow_res
