"""The hand-written prose of generated reference pages: what the command line's shared flags
mean, and what each suite-file key means. The keys themselves come from the suite reader; a key
it accepts that is not described here fails the docs build (``reference.SuiteKeyUndocumented``)."""

SUITE_KEYS = {
    "top level": {
        "name": "The suite's name, shown in the results table and the report.",
        "description": "Free text about the suite.",
        "seed": "The run's seed (default 0): the same seed draws the same tasks.",
        "encoder": "The encoder: a registered name, a local model directory or a hub id in the local cache (default all-MiniLM-L6-v2).",
        "learners": 'Required. Learner names (`"logreg"`, `"knn:n_neighbors=1"`) or tables `{name = "knn", label = "1-nn", n_neighbors = 1}`.',
        "episodes": "`[[episodes]]` tables: N-way K-shot episodes of one dataset.",
        "full_way": "`[[full_way]]` tables: train on a K-shot split of every class, test on a whole split.",
        "cross_domain": "`[[cross_domain]]` tables: labelled source, K target labels per class, unlabelled target.",
        "multi_label": "`[[multi_label]]` tables: texts with several labels.",
        "active_learning": "`[[active_learning]]` tables: simulated labelling rounds, a learning curve per strategy.",
        "columns": "A `[columns]` table naming the columns of your own data files.",
    },
    "[[episodes]]": {
        "dataset": "Required. The data episodes are drawn from (`NAME:SPLIT` or a file).",
        "ways": "Classes per episode (default 5).",
        "shots": "Labelled texts per class; a list expands into one setting per value.",
        "queries": "Query texts per class and episode (default 15).",
        "episodes": "How many episodes (default 600).",
        "seed": "This table's seed (default: the suite's).",
        "domain": 'Draw from one domain of a dataset with a domain column (`"travel"`).',
        "classes": "Draw only from these classes.",
        "split": "A class split (`split` table below): episodes from the novel classes, meta-training on the base ones.",
        "skip_small_classes": "Leave out classes with fewer than K+Q distinct texts instead of stopping with an error.",
        "oos": "Out-of-scope texts (`NAME:SPLIT` or a file): each episode also gets `oos_queries` of them to reject.",
        "oos_queries": "Out-of-scope texts per episode.",
        "scorers": "The out-of-scope scorers to compare (the first is the record's headline).",
        "reject_recall": "The share of held-out in-scope texts the threshold keeps in scope (default 0.95).",
    },
    "split": {
        "by": '`"domain"`: split by the dataset\'s domains instead of by fraction.',
        "base": "The share of classes (or, by domain, the domains) meta-trained on.",
        "validation": "The share of classes (or domains) that choose a meta-trained learner's checkpoint.",
        "novel": "By domain: the domains episodes are drawn from.",
        "seed": "The seed of the class shuffle (default 0).",
        "use": 'Which part the episodes come from (default `"novel"`).',
        "train": "The data meta-training episodes come from (default: the episodes' dataset).",
        "validate": "The data validation episodes come from.",
        "validation_episodes": "Fixed validation episodes per checkpoint choice (default 100).",
    },
    "[[full_way]]": {
        "train": "Required. The K-shot training data (`banking77:train_5`, a file).",
        "test": "Required. The data scored on, all of it.",
        "seed": "This table's seed (default: the suite's).",
        "unlabeled_data": "Unlabelled texts for learners that use them (self-training); labels never read.",
        "oos": "Out-of-scope test texts: the run scores rejection too.",
        "oos_valid": "Held-out out-of-scope texts that, with `valid`, choose the threshold.",
        "valid": "Held-out in-scope texts for the threshold (with `oos_valid`).",
        "scorers": "The out-of-scope scorers to compare.",
        "reject_recall": "The share of held-out in-scope texts the threshold keeps (default 0.95).",
    },
    "[[cross_domain]]": {
        "source": "Required. Labelled source data, one or a list.",
        "target": "Required. Target data, one or a list: every ordered pair of distinct source and target runs.",
        "shots": "Target labels per class (0 = none; default `[0, 8]`).",
        "seeds": "Tasks (random target splits) per pair, each with its own seed (default 10).",
        "seed": "The first task's seed (default: the suite's).",
        "ways": "Classes per task (default: all the target's).",
        "unlabeled": "The share of the target's rest offered unlabelled (default 0.5).",
        "source_domain": "Restrict the source to one domain of a dataset with a domain column.",
        "target_domain": "Restrict the target to these domains.",
    },
    "[[multi_label]]": {
        "train": "Training data with label lists (full-way form; with `test`).",
        "test": "Test data with label lists.",
        "dataset": "Episode form: the data episodes are drawn from.",
        "ways": "Episode form: labels per episode.",
        "shots": "Labelled texts per label; a list expands into one setting per value.",
        "queries": "Episode form: query texts per episode.",
        "episodes": "Episode form: how many episodes.",
        "seeds": "Full-way form: runs with different support draws.",
        "seed": "This table's seed (default: the suite's).",
    },
    "[[active_learning]]": {
        "pool": "Labelled data whose texts are the pool; its labels answer as a person would.",
        "test": "The data each round is scored on.",
        "strategies": "Acquisition strategies by name, and `class-balanced` (reads the labels); "
        "default hybrid, margin, kcenter, random, class-balanced.",
        "start": "`one-per-class` (default) or `zero-shot` (nothing labelled; `zeroshot` first).",
        "batch": "Texts labelled per round (default 77).",
        "total": "Texts labelled at the end (default 385).",
        "seeds": "Simulations per strategy (default 5).",
        "seed": "This table's seed (default: the suite's).",
    },
    "[columns]": {
        "text": "The text column of your files (default `text`).",
        "label": "The label column (default `label`).",
        "domain": "The domain column, for `domain` and class splits by domain.",
        "labels": "The label-list column of multi-label files (default `labels`).",
        "label_separator": "What separates labels in a CSV cell (default `|`).",
    },
}


#: What the flags of several commands share, said once above the generated tables.
CLI_NOTES = """\
- Datasets are `NAME:SPLIT` (`banking77:train_5`, `clinc150:test`, `amazon_reviews:books`) or a path
  to your own `.jsonl` / `.csv` / `.tsv` (optionally `.gz`); `--text-column`, `--label-column` and
  `--domain-column` name the columns.
- Learner parameters: `--learner knn:n_neighbors=1,metric=euclidean` (values are read as JSON).
- `--domain travel` draws episodes from one domain; `--skip-small-classes` leaves out classes with
  fewer than K+Q distinct texts instead of stopping with an error.
- `--encoder` takes a registered encoder name or any local sentence-transformers model directory;
  `--device cuda` encodes on the GPU (the default is `cpu`, so cached embeddings are reproducible).
- The embedding cache lives in `$FEWSHOT_CACHE_DIR` (default `~/.cache/fewshot`); `--cache-dir`,
  `--no-cache`.
- Cross-domain runs (`--source`, `--target`, repeatable): each of `--seeds N` tasks splits the
  target's distinct texts at random into K labels per class (`--shots`, default `0,8`), an
  unlabelled pool (`--unlabeled SHARE` of the rest, default 0.5) and the queries (the remainder);
  learners that declare them get the labelled source and the unlabelled pool. `--source-domain` /
  `--target-domain` restrict a side to one domain of a dataset with a domain column (CLINC150).
- `--split BASE,VALIDATION[,SEED]` splits the classes by fraction (shuffled with SEED, default 0);
  episodes come from the novel rest, and meta-trained learners train on episodes of the base
  classes (`--meta-train DATA`, default the episodes' dataset) and validate on the validation
  classes (`--meta-validation DATA`).
- `fewshot install-meta` builds learn2learn for `maml` / `metasgd` ([meta-learning](../how-to/meta-learning.md)).
- `--resume` continues an interrupted run, `--overwrite` replaces an earlier one,
  `--episode-timeout S` fails a learner whose episode takes longer than S seconds ([reliability](../explanation/reliability.md)).
- `--debug` shows tracebacks; otherwise a bad input gets one line naming the file, line and what
  was expected, and exit status 2. A learner that fails is reported in its record
  (`status: failed`, `error`) while the others finish; the run then exits with status 1.
"""
