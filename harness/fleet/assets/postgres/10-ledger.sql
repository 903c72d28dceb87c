-- The ledger lives in a database of its own, owned by the same role; pgbench creates its tables.
CREATE DATABASE ledger;
