"""Page text in Chinese and English; enum labels; money and dates formatted for display."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar.connection import ASGIConnection

from web.context import language

SHANGHAI = ZoneInfo("Asia/Shanghai")
CURRENCY_SYMBOLS = {"CNY": "¥", "USD": "US$", "EUR": "€", "HKD": "HK$"}

MESSAGES: dict[str, tuple[str, str]] = {
    "site.name": ("科技成果交易所", "Technology Transfer Exchange"),
    "site.tagline": ("高校与科研院所科技成果公开挂牌、竞价与招标", "Public listing, auctions and tenders of university and institute research"),
    "nav.catalogue": ("成果目录", "Catalogue"),
    "nav.login": ("登录", "Log in"),
    "nav.logout": ("退出", "Log out"),
    "nav.register": ("注册", "Register"),
    "nav.account": ("我的账户", "My account"),
    "nav.review": ("挂牌审核", "Listing review"),
    "nav.achievements": ("我的成果", "My achievements"),
    "nav.tokens": ("API 令牌", "API tokens"),
    "nav.api": ("API 文档", "API docs"),
    "lang.switch": ("English", "中文"),
    "search.placeholder": ("搜索成果名称、摘要、专利号、发明人、机构", "Search title, summary, patent no., inventor, institution"),
    "search.button": ("搜索", "Search"),
    "search.results": ("共 {total} 项挂牌", "{total} listings"),
    "search.none": ("没有符合条件的挂牌项目。", "No listing matches these filters."),
    "filter.any": ("全部", "Any"),
    "filter.field": ("领域", "Field"),
    "filter.kind": ("类型", "Type"),
    "filter.funding": ("资金来源", "Funding"),
    "filter.status": ("状态", "Status"),
    "filter.min_price": ("最低价（元）", "Min price"),
    "filter.max_price": ("最高价（元）", "Max price"),
    "filter.apply": ("筛选", "Filter"),
    "filter.reset": ("清除", "Reset"),
    "status.announcing": ("公告中", "Announcing"),
    "status.ended": ("公告期已结束", "Announcement ended"),
    "listing.status.submitted": ("待审核", "Awaiting review"),
    "listing.status.returned": ("已退回", "Returned"),
    "listing.status.announced": ("已挂牌", "Announced"),
    "listing.status.withdrawn": ("已撤回", "Withdrawn"),
    "listing.reference": ("项目编号", "Reference"),
    "listing.price": ("挂牌价", "Listing price"),
    "listing.deposit": ("保证金", "Deposit"),
    "listing.appraised": ("评估值", "Appraised value"),
    "listing.not_appraised": ("未评估", "Not appraised"),
    "listing.seller": ("转让方", "Seller"),
    "listing.transfer_mode": ("交易方式", "Transfer mode"),
    "listing.method": ("多个受让方时的竞价方式", "Method for 2+ buyers"),
    "listing.terms": ("交易条件", "Terms"),
    "listing.conditions": ("受让方资格条件", "Bidder conditions"),
    "listing.announcement": ("公告期", "Announcement period"),
    "listing.announcement_wd": ("公告期（工作日）", "Announcement period (working days)"),
    "listing.announcement_range": ("{start} 至 {end}", "{start} to {end}"),
    "listing.working_days": ("{n} 个工作日", "{n} working days"),
    "listing.ip": ("知识产权标识", "IP identifiers"),
    "listing.inventors": ("发明人", "Inventors"),
    "listing.field": ("领域", "Field"),
    "listing.kind": ("成果类型", "Type"),
    "listing.maturity": ("成熟度", "Maturity"),
    "listing.funding": ("资金来源", "Funding source"),
    "listing.programme": ("资助项目", "Programme"),
    "listing.summary": ("成果简介", "Summary"),
    "listing.documents": ("附件资料", "Documents"),
    "listing.reviews": ("审核记录", "Review history"),
    "listing.return_reasons": ("退回理由", "Reasons for return"),
    "listing.submitted_at": ("提交时间", "Submitted"),
    "listing.new": ("提交挂牌", "Submit a listing"),
    "listing.resubmit": ("修改后重新提交", "Correct and resubmit"),
    "listing.withdraw": ("撤回", "Withdraw"),
    "listing.view": ("查看", "View"),
    "listing.none": ("尚无挂牌申请。", "No listings yet."),
    "listing.deposit_hint": ("留空则按挂牌价的 10% 计", "Leave empty for 10% of the listing price"),
    "mode.assignment": ("转让", "Assignment"),
    "mode.licence": ("许可", "Licence"),
    "mode.equity": ("作价投资", "Equity investment"),
    "method.english_auction": ("网络竞价（增价拍卖）", "English auction"),
    "method.sealed_quote": ("一次性密封报价", "One-time sealed quote"),
    "method.weighted_quote": ("综合评议（加权报价）", "Weighted quote"),
    "kind.patent": ("专利", "Patent"),
    "kind.software": ("软件著作权", "Software"),
    "kind.know_how": ("技术秘密", "Know-how"),
    "kind.licence": ("许可", "Licence"),
    "kind.equity": ("股权", "Equity"),
    "funding.public": ("财政资金", "Public funds"),
    "funding.non_public": ("非财政资金", "Non-public funds"),
    "maturity.lab": ("实验室阶段", "Laboratory"),
    "maturity.pilot": ("小试/中试", "Pilot"),
    "maturity.prototype": ("样机/原型", "Prototype"),
    "maturity.small_batch": ("小批量生产", "Small batch"),
    "maturity.industrialised": ("产业化", "Industrialised"),
    "field.information_technology": ("电子信息", "Information technology"),
    "field.biomedicine": ("生物医药", "Biomedicine"),
    "field.new_materials": ("新材料", "New materials"),
    "field.advanced_manufacturing": ("先进制造", "Advanced manufacturing"),
    "field.new_energy": ("新能源", "New energy"),
    "field.energy_environment": ("节能环保", "Energy saving & environment"),
    "field.modern_agriculture": ("现代农业", "Modern agriculture"),
    "field.aerospace": ("航空航天", "Aerospace"),
    "field.marine": ("海洋", "Marine"),
    "field.other": ("其他", "Other"),
    "doc.patent_certificate": ("专利证书", "Patent certificate"),
    "doc.appraisal_report": ("评估报告", "Appraisal report"),
    "doc.test_report": ("检测报告", "Test report"),
    "doc.technical_summary": ("技术说明", "Technical summary"),
    "doc.software_registration": ("软著登记证书", "Software registration"),
    "doc.other": ("其他", "Other"),
    "role.institution": ("高校/科研院所（转让方）", "University / institute (seller)"),
    "role.investor": ("投资人/企业（受让方）", "Investor / enterprise (buyer)"),
    "role.operator": ("交易所运营人员", "Exchange operator"),
    "form.email": ("电子邮箱", "E-mail"),
    "form.password": ("密码", "Password"),
    "form.password_hint": ("至少 10 个字符", "At least 10 characters"),
    "form.role": ("账户类型", "Account type"),
    "form.display_name": ("机构/企业名称", "Organisation name"),
    "form.contact_name": ("联系人", "Contact person"),
    "form.phone": ("联系电话", "Phone"),
    "form.submit": ("提交", "Submit"),
    "form.save": ("保存", "Save"),
    "form.cancel": ("取消", "Cancel"),
    "form.errors": ("请修改以下问题：", "Please correct the following:"),
    "form.optional": ("选填", "optional"),
    "form.one_per_line": ("每行一项", "one per line"),
    "login.title": ("登录", "Log in"),
    "login.no_account": ("还没有账户？", "No account yet?"),
    "register.title": ("注册账户", "Register"),
    "register.done": ("注册成功，欢迎！", "Registered. Welcome!"),
    "account.title": ("我的账户", "My account"),
    "account.profile": ("账户信息", "Profile"),
    "account.welcome_investor": ("您已注册为受让方。浏览成果目录，在公告期内关注感兴趣的项目。", "You are registered as a buyer. Browse the catalogue and follow listings during their announcement period."),
    "achievement.title": ("成果名称", "Title"),
    "achievement.title_en": ("英文名称", "English title"),
    "achievement.summary": ("成果简介", "Summary"),
    "achievement.summary_en": ("英文简介", "English summary"),
    "achievement.ip": ("知识产权标识（专利号、登记号）", "IP identifiers (patent / registration numbers)"),
    "achievement.inventors": ("发明人/完成人", "Inventors"),
    "achievement.programme": ("资助项目（财政资金必填）", "Funding programme (required for public funds)"),
    "achievement.appraised": ("评估值（元）", "Appraised value"),
    "achievement.currency": ("币种", "Currency"),
    "achievement.documents": ("附件资料（每行：名称 | 类型 | 页数）", "Documents (per line: title | kind | pages)"),
    "achievement.new": ("登记新成果", "Record an achievement"),
    "achievement.edit": ("编辑", "Edit"),
    "achievement.none": ("尚未登记成果。", "No achievements recorded yet."),
    "achievement.frozen": ("该成果有审核中或公告中的挂牌，信息已锁定。", "This achievement has a listing under review or announced; it cannot be edited."),
    "review.title": ("挂牌审核", "Listing review"),
    "review.queue_empty": ("没有待审核的挂牌。", "Nothing awaits review."),
    "review.approve": ("批准并发布挂牌公告", "Approve and announce"),
    "review.return": ("退回", "Return"),
    "review.reasons": ("退回理由", "Reasons"),
    "review.announcement_preview": ("若今日批准，公告期至 {end}", "If approved now, the announcement runs until {end}"),
    "review.decision.approve": ("批准", "Approved"),
    "review.decision.return": ("退回", "Returned"),
    "tokens.title": ("API 令牌", "API tokens"),
    "tokens.intro": ("程序可使用令牌调用 JSON API（请求头 Authorization: Bearer <令牌>）。令牌只显示一次。", "Programs call the JSON API with a token (header Authorization: Bearer <token>). A token is shown once."),
    "tokens.name": ("令牌名称", "Token name"),
    "tokens.create": ("创建令牌", "Create token"),
    "tokens.created": ("新令牌（请立即保存，不会再次显示）：", "Your new token (save it now; it will not be shown again):"),
    "tokens.revoke": ("吊销", "Revoke"),
    "tokens.revoked": ("已吊销", "Revoked"),
    "tokens.last_used": ("最近使用", "Last used"),
    "tokens.never": ("从未", "never"),
    "tokens.none": ("尚无令牌。", "No tokens yet."),
    "error.400": ("请求有误", "Bad request"),
    "error.401": ("请先登录", "Please log in"),
    "error.403": ("无权操作", "Forbidden"),
    "error.404": ("页面不存在", "Not found"),
    "error.409": ("操作冲突", "Conflict"),
    "error.422": ("输入有误", "Invalid input"),
    "error.429": ("请求过于频繁", "Too many requests"),
    "error.500": ("服务器错误", "Server error"),
    "error.back": ("返回首页", "Back to the catalogue"),
    "common.yes": ("是", "Yes"),
    "common.no": ("否", "No"),
    "common.actions": ("操作", "Actions"),
    "common.status": ("状态", "Status"),
    "common.created": ("创建时间", "Created"),
    "common.prev": ("上一页", "Previous"),
    "common.next": ("下一页", "Next"),
    "common.page": ("第 {page}/{pages} 页", "Page {page} of {pages}"),
    "footer.times": ("所有时间均为北京时间（Asia/Shanghai）。", "All times are Beijing time (Asia/Shanghai)."),
}


def translate(lang: str, key: str, default: str | None = None, **values: Any) -> str:
    pair = MESSAGES.get(key)
    template = (pair[1] if lang == "en" else pair[0]) if pair else (default if default is not None else key)
    return template.format(**values) if values else template


def translator(connection: ASGIConnection[Any, Any, Any, Any]) -> Callable[..., str]:
    lang = language(connection)

    def t(key: str, default: str | None = None, **values: Any) -> str:
        return translate(lang, key, default, **values)

    return t


def format_money(minor: int | None, currency: str) -> str:
    if minor is None:
        return ""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{CURRENCY_SYMBOLS.get(currency, currency + ' ')}{whole:,}.{cents:02d}"


def format_time(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def format_date(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d")
