"""What every service shares: the app factory, settings, errors, AWS clients and table specs.

Also the lower concepts more than one domain needs: the DynamoDB document table (`documents`)
and the rendezvous hash placement and steering rank by (`rendezvous_hash`).
"""
