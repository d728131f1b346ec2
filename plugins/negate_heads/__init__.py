"""Classifier heads: logistic regression, SVM, random forest, XGBoost, LightGBM, ensemble."""
