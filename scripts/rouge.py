#!/usr/bin/env python3
"""ROUGE of docpipe's extractive summarizer against lead-N and sumy's TextRank and LexRank,
on news corpora with human reference summaries. Run through `scripts/rouge`.

Every system gets the same sentences (docpipe's splitter) and the same length in sentences,
so the comparison is about choosing sentences. Speed is the time each system spends per
article, measured inside its own process.

Corpora (a clone or a bare git directory of each repository):
  cnndm=PATH   github.com/salesforce/ctrl-sum, datasets/example_dataset/*.source|target:
               300 CNN/DailyMail articles with their highlights.
  xsum=PATH    github.com/mcao516/EntFA, data/{train,test}.json: 700 BBC (XSum) articles
               with their one-sentence summaries.
"""
import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SUMMARIZE = ROOT / "target/release/summarize"


def read(repo, path):
    repo = pathlib.Path(repo)
    if (repo / path).exists():
        return (repo / path).read_text(encoding="utf-8")
    # A bare git directory (or a clone without a work tree).
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{path}"], check=True, capture_output=True
    ).stdout.decode("utf-8")


def load_cnndm(repo):
    pairs, seen = [], set()
    for split in ("train", "val", "test"):
        sources = read(repo, f"datasets/example_dataset/{split}.source").rstrip("\n").split("\n")
        targets = read(repo, f"datasets/example_dataset/{split}.target").rstrip("\n").split("\n")
        for article, reference in zip(sources, targets):
            if article not in seen:
                seen.add(article)
                pairs.append((article, reference))
    return pairs


def load_xsum(repo):
    pairs = []
    for split in ("train", "test"):
        for example in json.loads(read(repo, f"data/{split}.json")):
            pairs.append((example["source"], example["reference"]))
    return pairs


CORPORA = {
    "cnndm": (load_cnndm, "CNN/DailyMail (salesforce/ctrl-sum example set)"),
    "xsum": (load_xsum, "XSum (mcao516/EntFA)"),
}

# Every system returns this many sentences: the length of the lead-3 baseline.
SENTENCES = 3


def run_docpipe(texts, sentences, extra):
    lines = "\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(texts))
    out = subprocess.run(
        [str(SUMMARIZE), "--sentences", str(sentences), *extra],
        input=lines.encode(),
        check=True,
        capture_output=True,
    ).stdout.decode()
    results = [json.loads(line) for line in out.splitlines()]
    return [r["summary"] for r in results], [r["micros"] / 1e3 for r in results]


def run_sumy(kind, texts, sentences):
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
    from sumy.nlp.stemmers import Stemmer
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.summarizers.text_rank import TextRankSummarizer
    from sumy.utils import get_stop_words

    class Words:
        """sumy's tokenizer interface; sentences come pre-split."""

        language = "english"

        def to_words(self, sentence):
            return re.findall(r"\w+", sentence)

    summarizer = (TextRankSummarizer if kind == "textrank" else LexRankSummarizer)(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")
    summaries, times = [], []
    for text in texts:
        sentences_of = _sentences(text)
        started = time.perf_counter()
        words = Words()
        document = ObjectDocumentModel([Paragraph([Sentence(s, words) for s in sentences_of])])
        chosen = summarizer(document, sentences)
        times.append((time.perf_counter() - started) * 1e3)
        summaries.append(" ".join(str(s) for s in chosen))
    return summaries, times


_SPLIT_CACHE = {}


def _sentences(text):
    return _SPLIT_CACHE[text]


def prime_split_cache(texts):
    lines = "\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(texts))
    out = subprocess.run(
        [str(SUMMARIZE), "--split"], input=lines.encode(), check=True, capture_output=True
    ).stdout.decode()
    for text, line in zip(texts, out.splitlines()):
        _SPLIT_CACHE[text] = json.loads(line)["sentences"]


def score(summaries, references):
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"rouge1": [], "rouge2": [], "rougeL": []}
    for summary, reference in zip(summaries, references):
        scores = scorer.score(reference, summary)
        for key in totals:
            totals[key].append(scores[key].fmeasure)
    return {key: 100 * statistics.mean(values) for key, values in totals.items()}


def evaluate(name, repo, limit):
    load, title = CORPORA[name]
    sentences = SENTENCES
    pairs = load(repo)[:limit] if limit else load(repo)
    texts = [a for a, _ in pairs]
    references = [r for _, r in pairs]
    prime_split_cache(texts)
    systems = {
        "lead-3": run_docpipe(texts, sentences, ["--lead"]),
        "docpipe extractive": run_docpipe(texts, sentences, []),
        "sumy TextRank": run_sumy("textrank", texts, sentences),
        "sumy LexRank": run_sumy("lexrank", texts, sentences),
    }
    rows = []
    docpipe_ms = statistics.median(systems["docpipe extractive"][1])
    for system, (summaries, times) in systems.items():
        s = score(summaries, references)
        median_ms = statistics.median(times)
        rows.append((system, s["rouge1"], s["rouge2"], s["rougeL"], median_ms, median_ms / docpipe_ms))
    return title, len(pairs), sentences, rows


def verdict(rows):
    """The targets: docpipe's ROUGE-2 above every baseline's, at least 20x faster than sumy."""
    by_name = {row[0]: row for row in rows}
    ours = by_name["docpipe extractive"]
    beaten = [name for name, row in by_name.items() if name != ours[0] and row[2] >= ours[2]]
    slowest_ratio = min(row[5] for name, row in by_name.items() if name.startswith("sumy"))
    quality = ("ROUGE-2 above every baseline: met" if not beaten
               else "ROUGE-2 above every baseline: **missed**, not above " + ", ".join(beaten))
    speed = f"at least 20x faster than sumy: {'met' if slowest_ratio >= 20 else '**missed**'} ({slowest_ratio:.1f}x)"
    return f"Targets: {quality}; {speed}."


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="+", help="NAME=PATH, NAME one of " + ", ".join(CORPORA))
    parser.add_argument("--limit", type=int, default=0, help="use only the first N articles")
    parser.add_argument("--markdown", help="write the tables to this file")
    args = parser.parse_args()
    out = []
    for spec in args.corpora:
        name, _, repo = spec.partition("=")
        if name not in CORPORA or not repo:
            sys.exit(f"bad corpus {spec!r}")
        title, count, sentences, rows = evaluate(name, repo, args.limit)
        out.append(f"**{title}**: {count} articles, summaries of {sentences} sentence(s), ROUGE F1 "
                   f"(rouge-score, stemmed).\n")
        out.append("| system | ROUGE-1 | ROUGE-2 | ROUGE-L | ms per article (median) | time vs docpipe |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for system, r1, r2, rl, ms, ratio in rows:
            out.append(f"| {system} | {r1:.2f} | {r2:.2f} | {rl:.2f} | {ms:.3f} | {ratio:.1f}× |")
        out.append("")
        out.append(verdict(rows))
        out.append("")
    text = "\n".join(out)
    print(text)
    if args.markdown:
        pathlib.Path(args.markdown).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
