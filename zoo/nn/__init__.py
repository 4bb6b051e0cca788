"""Small shared pieces used by several families: masked convolutions, discretised likelihoods."""
