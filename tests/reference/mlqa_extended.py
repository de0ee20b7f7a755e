"""Reference for the languages the official MLQA script does not know (el ro
ru th tr ja), written as the obvious extension of mlqa_v1 in its own style, from
the rule table in tasks/qa/README.md (not from lm_eval_ext). For the seven MLQA
languages it *is* mlqa_v1."""

import re
from collections import Counter

from . import mlqa_v1

ARTICLES = {
    'el': ['ο', 'η', 'το', 'οι', 'τα', 'του', 'της', 'των', 'τον', 'την', 'τους', 'τις',
           'ένας', 'ενός', 'έναν', 'μια', 'μία', 'μιας', 'ένα'],
    'ro': ['un', 'o', 'niște', 'nişte', 'unui', 'unei', 'unor'],
    'ru': [], 'tr': [], 'th': [], 'ja': [],
}


def _is_thai(char):
    return 0x0E00 <= ord(char) <= 0x0E7F


def _is_japanese(char):
    cp = ord(char)
    return (0x3040 <= cp <= 0x30FF or 0x3400 <= cp <= 0x4DBF or 0x4E00 <= cp <= 0x9FFF
            or 0xFF66 <= cp <= 0xFF9F)


CHAR_TOKEN = {'th': _is_thai, 'ja': _is_japanese}


def character_segmentation(text, is_char_token):
    segs_out = []
    temp_str = ""
    for char in text:
        if is_char_token(char):
            segs_out.extend(temp_str.split())
            temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char
    segs_out.extend(temp_str.split())
    return segs_out


def normalize_answer(s, lang):
    if lang not in ARTICLES:
        return mlqa_v1.normalize_answer(s, lang)
    text = ''.join(ch for ch in s.lower() if ch not in mlqa_v1.PUNCT)
    if ARTICLES[lang]:
        text = re.sub(r'\b(' + '|'.join(ARTICLES[lang]) + r')\b', ' ', text)
    if lang in CHAR_TOKEN:
        tokens = character_segmentation(text, CHAR_TOKEN[lang])
    else:
        tokens = text.split()
    return ' '.join(t for t in tokens if t.strip() != '')


def f1_score(prediction, ground_truth, lang):
    prediction_tokens = normalize_answer(prediction, lang).split()
    ground_truth_tokens = normalize_answer(ground_truth, lang).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def exact_match_score(prediction, ground_truth, lang):
    return normalize_answer(prediction, lang) == normalize_answer(ground_truth, lang)


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths, lang):
    return max(metric_fn(prediction, gt, lang) for gt in ground_truths)
