"""kehu 客户分层管理 — customer archive and segmentation for shops and small sales teams."""

__version__ = "0.1.0"
