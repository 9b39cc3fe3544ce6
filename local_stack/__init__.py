"""The whole bridge on one machine: moto's server for AWS, the Genesys emulator, the minter on a schedule, workers.

The composition used by the demo, the tests and the benchmarks. It builds AWS resources from the same layouts the
CDK app uses; nothing here is deployed.
"""
