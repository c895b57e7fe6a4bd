"""The words merchants write in their own sheets, per field: one table each, code → the ways people write it.

The first name of each code is the one shown in messages ("可选：…"). Matching (values.py) ignores case,
spaces and full/half width, so list a word once; a cell that contains one of these words of two characters or
more (微信公众号 → 公众号) also matches when no other code's word fits as well (the longest word wins).
To teach kehu a new word, add it here.
"""

PAYMENT_METHODS = {
    "cash": ["现金", "cash", "现付", "货到付款"],
    "card": ["银行卡", "刷卡", "信用卡", "借记卡", "储蓄卡", "card", "bank card", "credit card", "pos", "银联"],
    "wechat_pay": ["微信支付", "微信", "wechat", "wechat pay", "wechatpay", "weixin", "wx", "微信零钱", "微信转账",
                   "微信扫码", "微信红包"],
    "alipay": ["支付宝", "alipay", "花呗", "zhifubao", "支付宝转账", "支付宝扫码"],
    "transfer": ["对公转账", "转账", "银行转账", "transfer", "bank transfer", "汇款", "对公"],
    "other": ["其他", "其它", "other"],
}

SALES_CHANNELS = {
    "store": ["门店", "线下", "到店", "实体店", "店内", "store", "offline", "shop", "店铺"],
    "online": ["线上商城", "商城", "官网", "小程序", "网店", "online", "web"],
    "wechat": ["微信", "微商", "朋友圈", "公众号", "wechat"],
    "platform": ["电商平台", "淘宝", "天猫", "京东", "拼多多", "抖音", "快手", "小红书", "有赞", "微店", "platform"],
    "phone": ["电话", "电话订购", "phone"],
    "other": ["其他", "其它", "other"],
}

MARKETING_CHANNELS = {
    "sms": ["短信", "sms", "手机短信"],
    "email": ["邮件", "电子邮件", "邮箱", "email", "e-mail"],
    "wechat": ["微信/公众号", "微信", "公众号", "企业微信", "wechat", "微信公众号", "服务号", "订阅号"],
    "phone": ["电话", "phone", "call", "电联", "电话回访"],
}

COMMUNICATION_METHODS = {
    "phone": ["电话", "打电话", "电话沟通", "phone", "call", "电联", "致电", "来电", "去电"],
    "wechat": ["微信", "企业微信", "wechat", "企微"],
    "email": ["邮件", "电子邮件", "email", "e-mail"],
    "sms": ["短信", "sms"],
    "visit": ["面对面", "面谈", "拜访", "上门", "到店", "见面", "visit", "meeting", "in person", "当面",
              "面对面交流", "面聊"],
}

GENDERS = {
    "male": ["男", "男性", "先生", "男士", "男生", "m", "male", "man"],
    "female": ["女", "女性", "女士", "女生", "小姐", "f", "female", "woman"],
    "": ["未知", "保密", "unknown", "-"],
}

CUSTOMER_KINDS = {
    "person": ["个人", "个人客户", "person", "individual"],
    "company": ["企业", "公司", "企业客户", "单位", "company", "business", "b2b"],
}

COMPANY_SIZES = {  # matching reads –, —, ~, ～ and 至 as "-"
    "1-9": ["1–9人", "1-9", "10人以下"],
    "10-49": ["10–49人", "10-49"],
    "50-199": ["50–199人", "50-199"],
    "200-999": ["200–999人", "200-999"],
    "1000+": ["1000人以上", "1000+", "1000人及以上", "千人以上"],
}

ORDER_STATUSES = {
    "completed": ["已完成", "完成", "交易成功", "已付款", "已支付", "completed", "paid", "success"],
    "refunded": ["已退款", "退款", "退款成功", "交易关闭", "已取消", "取消", "已关闭", "refunded", "refund",
                 "cancelled", "canceled"],
}

# Province-level divisions as stored (the full name), with the short names people write and the English names
# (an English template's example gives one).
PROVINCES = {
    "北京市": ["北京", "京", "beijing"], "天津市": ["天津", "津", "tianjin"], "上海市": ["上海", "沪", "shanghai"],
    "重庆市": ["重庆", "渝", "chongqing"], "河北省": ["河北", "冀", "hebei"], "山西省": ["山西", "晋", "shanxi"],
    "辽宁省": ["辽宁", "辽", "liaoning"], "吉林省": ["吉林", "jilin"], "黑龙江省": ["黑龙江", "heilongjiang"],
    "江苏省": ["江苏", "苏", "jiangsu"], "浙江省": ["浙江", "浙", "zhejiang"], "安徽省": ["安徽", "皖", "anhui"],
    "福建省": ["福建", "闽", "fujian"], "江西省": ["江西", "赣", "jiangxi"], "山东省": ["山东", "鲁", "shandong"],
    "河南省": ["河南", "豫", "henan"], "湖北省": ["湖北", "鄂", "hubei"], "湖南省": ["湖南", "湘", "hunan"],
    "广东省": ["广东", "粤", "guangdong"], "海南省": ["海南", "琼", "hainan"],
    "四川省": ["四川", "川", "蜀", "sichuan"], "贵州省": ["贵州", "黔", "guizhou"], "云南省": ["云南", "滇", "yunnan"],
    "陕西省": ["陕西", "陕", "shaanxi"],
    "甘肃省": ["甘肃", "甘", "gansu"], "青海省": ["青海", "青", "qinghai"], "台湾省": ["台湾", "台", "taiwan"],
    "内蒙古自治区": ["内蒙古", "内蒙", "inner mongolia"], "广西壮族自治区": ["广西", "桂", "广西自治区", "guangxi"],
    "西藏自治区": ["西藏", "藏", "tibet"], "宁夏回族自治区": ["宁夏", "宁", "宁夏自治区", "ningxia"],
    "新疆维吾尔自治区": ["新疆", "新", "新疆自治区", "xinjiang"], "香港特别行政区": ["香港", "港", "hong kong", "hk"],
    "澳门特别行政区": ["澳门", "澳", "macau", "macao"],
}

# Cities are free text; a bare two-character name gains 市 (广州 → 广州市) unless it is one of these
# prefectures, which are not cities (延边 is 延边朝鲜族自治州) and stay as written.
NOT_CITIES = {"延边", "湘西", "恩施", "甘孜", "阿坝", "凉山", "楚雄", "红河", "文山", "大理", "德宏", "怒江",
              "迪庆", "临夏", "甘南", "海北", "黄南", "海南", "果洛", "玉树", "海西", "昌吉", "伊犁", "和田",
              "阿里", "黔南", "阿勒泰", "塔城", "兴安", "锡林", "阿拉善"}
