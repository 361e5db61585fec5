"""Auth service: Cognito sign-up, confirm, log in, refresh, log out; JWT checks; profiles."""
