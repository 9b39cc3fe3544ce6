"""Fleet coverage: the ledger of every task merged per shard, for each closed window, as metrics the alarms use."""
