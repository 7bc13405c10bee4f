"""What leaves kscribe for the outside: signed callbacks (signing, targets, transport) and result links."""
