//! Network definitions, classical models and the model bundle format.
