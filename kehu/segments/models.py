"""Segmentation (客户分层): built in the segmentation issue."""
