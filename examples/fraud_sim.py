"""The simulated `fraud` model the examples share: its schema, synthetic
requests, the "true" score behind them and how each demo version predicts.

traffic_gen.py logs rows of it; demo_node.py serves it. Standard library
only. Features: amount (numeric, log-normal), age (numeric), country
(categorical), channel (categorical); prediction: fraud score (numeric).
"""
import math

SCHEMA = {"features": [{"name": "amount", "type": "numeric"},
                       {"name": "age", "type": "numeric"},
                       {"name": "country", "type": "categorical"},
                       {"name": "channel", "type": "categorical"}],
          "prediction": {"type": "numeric"}}

LABEL_NOISE = 0.02  # sd of the gap between the true score and a good model's


def sample(rng, drifted=False):
    """One request: (features, score), score the good model's exact output.
    Drifted requests have 3x amounts, ages 15 years higher and another
    country mix."""
    amount = math.exp(rng.gauss(3.5, 1.0)) * (3.0 if drifted else 1.0)
    age = rng.gauss(52 if drifted else 37, 11)
    countries = ["FR", "DE", "US", "BR"] if drifted else ["FR", "DE", "US", "UK"]
    weights = [0.1, 0.1, 0.3, 0.5] if drifted else [0.4, 0.3, 0.2, 0.1]
    country = rng.choices(countries, weights)[0]
    channel = rng.choice(["web", "app", "pos"])
    score = 1 / (1 + math.exp(-(amount / 200 - 1 + (age - 40) / 50)))
    return ({"amount": round(amount, 2), "age": round(age, 1),
             "country": country, "channel": channel}, score)


def row(rng, drifted):
    """A logged prediction row {features, prediction} of the good model."""
    features, score = sample(rng, drifted)
    return {"features": features, "prediction": round(score, 4)}


def label(rng, score):
    """The ground truth of a request: its score plus small noise."""
    return round(score + rng.gauss(0, LABEL_NOISE), 4)


def predict(rng, score, drifting=False, bad=False):
    """What a version predicts for a request whose good score is `score`.

    drifting: squeezed and shifted (0.5 * score + 0.45), so the prediction
    column drifts clearly against the reference and the good model's live
    predictions. bad: the score of another, independent request - the same
    distribution as a good model's (no drift) but unrelated to the truth,
    so its error against labels is several times larger."""
    if drifting:
        return round(0.5 * score + 0.45, 4)
    if bad:
        return round(sample(rng)[1], 4)
    return round(score, 4)
