-- keyhole demo dataset: a small shop.
CREATE TABLE customers (
    id         integer PRIMARY KEY,
    name       text        NOT NULL,
    region     text        NOT NULL,
    email      text        NOT NULL,  -- personal data: never granted (see keyhole.yaml)
    ssn        text        NOT NULL,  -- personal data: never granted
    created_at timestamptz NOT NULL
);

CREATE TABLE orders (
    id          integer PRIMARY KEY,
    customer_id integer       NOT NULL REFERENCES customers (id),
    total       numeric(10,2) NOT NULL,
    status      text          NOT NULL,
    note        text,
    items       jsonb         NOT NULL DEFAULT '[]',
    created_at  timestamptz   NOT NULL
);

-- This table must never be granted to any agent: keyhole.yaml does not list it.
CREATE TABLE payment_secrets (
    customer_id integer PRIMARY KEY REFERENCES customers (id),
    card_number text NOT NULL,
    cvv         text NOT NULL
);
