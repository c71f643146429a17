"""People and their browsers: users with passwords and roles, sessions, invitations, and the
organization's API keys as the dashboard manages them. Free of HTTP; qualgent.web renders it."""
