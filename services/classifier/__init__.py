"""The shared room of the conversation classifiers (defense, strategy): servicer and deployment."""
