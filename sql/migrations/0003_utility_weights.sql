-- Named utility weight sets (the serving 'default' and one per experiment arm), and the arms.
-- "< 'Infinity'" also rejects NaN, which Postgres orders above every number.
CREATE TABLE utility_weights (
    name       text PRIMARY KEY,
    creator    double precision NOT NULL CHECK (creator >= 0 AND creator < 'Infinity'),
    merchant   double precision NOT NULL CHECK (merchant >= 0 AND merchant < 'Infinity'),
    ad         double precision NOT NULL CHECK (ad >= 0 AND ad < 'Infinity'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Equal to models.utility.UtilityWeights() (tests/service/test_utility_weights.py checks it).
INSERT INTO utility_weights (name, creator, merchant, ad) VALUES ('default', 0.3, 0.2, 0.2);

-- An arm serves its weight set to a deterministic share of users (service/experiments.py).
CREATE TABLE experiment_arms (
    arm          text PRIMARY KEY,
    weights_name text NOT NULL REFERENCES utility_weights (name),
    traffic      double precision NOT NULL CHECK (traffic >= 0 AND traffic <= 1)
);
