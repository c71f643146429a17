"""Organizations, their API keys and credits: the admin operations behind `qualgent admin`."""
