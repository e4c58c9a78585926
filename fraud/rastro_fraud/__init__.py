"""rastro's card-fraud platform: the transaction contract, a seeded generator, features, the model
and the decision logic (docs/fraud.md)."""
