"""The device host: `qualgent worker` registers devices, claims runs, executes, reports."""
