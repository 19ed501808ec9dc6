"""Fit the FAQ model's weights (knowledge/model.py) on the development questions, and report
5-fold cross-validated accuracy: the honest estimate for questions the model has not seen.

Run: .venv/bin/python bench/fit_faq.py          (cross-validation, then the fitted weights)
     .venv/bin/python bench/fit_faq.py --write  (the same, and the weights into model.py)
     .venv/bin/python bench/fit_faq.py --cv-only

Stage 1, the ranker: for every question (and every clause of a padded question, as the
KnowledgeBase searches them) whose right section is on the BM25 shortlist, a softmax over the
shortlist's linear scores; minimise the negative log-likelihood of the right section.
Stage 2, the answer/refuse decision: logistic regression over model.answer_features of each
clause's top candidate (with the stage-1 weights), label 1 when that section is right; the
question is answered by the clause with the highest probability if it reaches 0.5.
Features are standardised while fitting; the scaling is folded into the printed constants.
The folds split questions by a CRC32 hash, so they are fixed from run to run.
"""

from __future__ import annotations

import json
import math
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge import model  # noqa: E402
from knowledge.base import KnowledgeBase, _candidates, detail_missing  # noqa: E402
from knowledge.corpus import slugify  # noqa: E402

DEV_SET = ROOT / "tests" / "knowledge" / "faq_dev_set.jsonl"
FOLDS = 5
RANK_L2 = 0.1
ANSWER_L2 = 0.15
RANKED = [i for i, name in enumerate(model.FEATURES)
          if name not in ("unknown", "size", "unknown_words", "unknown_short")]


def expected_id(row: dict) -> str | None:
    if row["document"] is None:
        return None
    return f"{slugify(row['document'])}/{slugify(row['section'])}"


def collect(kb: KnowledgeBase, rows: list[dict]) -> list[dict]:
    """Per question: its expected id and, per clause, the shortlist (id, features)."""
    data = []
    by_id = {section.id: section for section in kb.sections}
    for row in rows:
        clauses = []
        for clause in _candidates(row["question"]):
            found = kb.index.candidates(clause)
            if found:
                clauses.append([(kb.index.sections[i].id, f) for i, f in found])
        # sections the asked-for detail rules out (KnowledgeBase.ask refuses them on top)
        lacking = {sid for clause in clauses for sid, _ in clause
                   if detail_missing(row["question"], by_id[sid])}
        data.append({"question": row["question"], "gold": expected_id(row), "clauses": clauses,
                     "style": row["style"], "lacking": lacking})
    return data


def _standardise(vectors: list[tuple[float, ...]], columns: list[int]):
    n = max(len(vectors), 1)
    mean = [sum(v[c] for v in vectors) / n for c in columns]
    std = [math.sqrt(sum((v[c] - m) ** 2 for v in vectors) / n) or 1.0
           for c, m in zip(columns, mean, strict=True)]
    return mean, std


def fit_ranker(data: list[dict], epochs: int = 250, rate: float = 0.5) -> tuple[float, ...]:
    lists = []
    for item in data:
        for clause in item["clauses"]:
            ids = [i for i, _ in clause]
            if item["gold"] in ids:
                lists.append((ids.index(item["gold"]), [f for _, f in clause]))
    mean, std = _standardise([f for _, fs in lists for f in fs], RANKED)
    z_lists = [(g, [[(f[c] - m) / s for c, m, s in zip(RANKED, mean, std, strict=True)]
                    for f in fs]) for g, fs in lists]
    d = len(RANKED)
    w = [0.0] * d
    velocity = [0.0] * d
    for _ in range(epochs):
        grad = [RANK_L2 * x for x in w]
        for gold, xs in z_lists:
            scores = [sum(a * b for a, b in zip(w, x, strict=True)) for x in xs]
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = sum(exps)
            for x, e in zip(xs, exps, strict=True):
                p = e / total
                for k in range(d):
                    grad[k] += p * x[k] / len(z_lists)
            for k in range(d):
                grad[k] -= xs[gold][k] / len(z_lists)
        for k in range(d):
            velocity[k] = 0.9 * velocity[k] - rate * grad[k]
            w[k] += velocity[k]
    weights = [0.0] * len(model.FEATURES)
    for c, wk, s in zip(RANKED, w, std, strict=True):
        weights[c] = wk / s
    return tuple(weights)


def tops(item: dict, rank_weights: tuple[float, ...]) -> list[tuple[str, tuple[float, ...]]]:
    """Per clause: the top section id and its answer features under the given ranker."""
    out = []
    for clause in item["clauses"]:
        scored = sorted(((sum(w * x for w, x in zip(rank_weights, f, strict=True)), sid, f)
                         for sid, f in clause), key=lambda t: -t[0])
        score, sid, f = scored[0]
        rival, rival_features = ((scored[1][0], scored[1][2]) if len(scored) > 1
                                 else (score - model.MAX_MARGIN, None))
        out.append((sid, model.answer_features(f, score, rival, rival_features)))
    return out


def fit_answer(data: list[dict], rank_weights: tuple[float, ...], epochs: int = 400,
               rate: float = 0.3) -> tuple[float, tuple[float, ...]]:
    examples = [(af, 1.0 if sid == item["gold"] else 0.0)
                for item in data for sid, af in tops(item, rank_weights)]
    columns = list(range(len(examples[0][0])))
    mean, std = _standardise([x for x, _ in examples], columns)
    zs = [([(x[c] - m) / s for c, m, s in zip(columns, mean, std, strict=True)], y)
          for x, y in examples]
    d = len(columns)
    w = [0.0] * d
    b = 0.0
    vw = [0.0] * d
    vb = 0.0
    for _ in range(epochs):
        gw = [ANSWER_L2 * x for x in w]
        gb = 0.0
        for x, y in zs:
            z = b + sum(a * c for a, c in zip(w, x, strict=True))
            p = 1 / (1 + math.exp(-max(-30, min(30, z))))
            for k in range(d):
                gw[k] += (p - y) * x[k] / len(zs)
            gb += (p - y) / len(zs)
        for k in range(d):
            vw[k] = 0.9 * vw[k] - rate * gw[k]
            w[k] += vw[k]
        vb = 0.9 * vb - rate * gb
        b += vb
    raw = tuple(wk / s for wk, s in zip(w, std, strict=True))
    bias = b - sum(wk * m / s for wk, m, s in zip(w, mean, std, strict=True))
    return bias, raw


def predict(item: dict, rank_weights, bias, answer_weights) -> str | None:
    best = None
    for sid, af in tops(item, rank_weights):
        z = bias + sum(w * x for w, x in zip(answer_weights, af, strict=True))
        p = 1 / (1 + math.exp(-max(-30, min(30, z))))
        if best is None or p > best[0]:
            best = (p, sid)
    return best[1] if best and best[0] >= 0.5 and best[1] not in item["lacking"] else None


def fold_of(question: str) -> int:
    return zlib.crc32(question.encode()) % FOLDS


def cross_validate(data: list[dict], verbose: bool = True) -> float:
    accuracies = []
    right_all = 0
    for k in range(FOLDS):
        train = [d for d in data if fold_of(d["question"]) != k]
        test = [d for d in data if fold_of(d["question"]) == k]
        rank_weights = fit_ranker(train)
        bias, answer_weights = fit_answer(train, rank_weights)
        right = sum(predict(d, rank_weights, bias, answer_weights) == d["gold"] for d in test)
        right_all += right
        accuracies.append(right / len(test))
        if verbose:
            print(f"  fold {k}: {right}/{len(test)} = {right / len(test):.3f}")
    mean = sum(accuracies) / len(accuracies)
    if verbose:
        print(f"  {FOLDS}-fold mean accuracy {mean:.3f} (pooled {right_all}/{len(data)})")
    return mean


def read_set(path: Path) -> list[dict]:
    """A question set: one JSON object per line (question, document, section, style)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def load_data() -> list[dict]:
    return collect(KnowledgeBase.load(), read_set(DEV_SET))


def main() -> None:
    data = load_data()
    print("cross-validation:")
    cv = cross_validate(data)
    if "--cv-only" in sys.argv:
        return
    rank_weights = fit_ranker(data)
    bias, answer_weights = fit_answer(data, rank_weights)
    right = sum(predict(d, rank_weights, bias, answer_weights) == d["gold"] for d in data)
    print(f"fitted on all: {right}/{len(data)} = {right / len(data):.3f}")
    lines = [f"# fitted by bench/fit_faq.py: {FOLDS}-fold cross-validated accuracy {cv:.3f},\n"
             f"# {right / len(data):.3f} on all {len(data)} development questions it was fitted on",
             "RANK_WEIGHTS = ("]
    lines += [f"    {w:.4f},  # {name}"
              for name, w in zip(model.FEATURES, rank_weights, strict=True)]
    lines += [")", f"ANSWER_BIAS = {bias:.4f}", "ANSWER_WEIGHTS = ("]
    lines += [f"    {w:.4f},  # {name}"
              for name, w in zip(model.ANSWER_FEATURES, answer_weights, strict=True)]
    lines.append(")")
    block = "\n".join(lines)
    print(block)
    if "--write" in sys.argv:
        path = ROOT / "knowledge" / "model.py"
        text = path.read_text(encoding="utf-8")
        head, rest = text.split("# fitted by bench/fit_faq.py", 1)
        tail = rest[rest.index("\n\n\ndef "):]
        path.write_text(head + block + tail, encoding="utf-8")
        print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
