"Install learntorch: every setting is read from settings.ini, the one place nbdev keeps them."
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    url=cfg['git_url'],
    license='Apache-2.0',
    classifiers=['Development Status :: 3 - Alpha', 'Intended Audience :: Education', 'Intended Audience :: Developers',
                 'License :: OSI Approved :: Apache Software License', 'Natural Language :: English',
                 'Programming Language :: Python :: 3', 'Topic :: Scientific/Engineering :: Artificial Intelligence'],
    project_urls={'Source': cfg['git_url'], 'Documentation': cfg['doc_host'] + cfg['doc_baseurl']},
    scripts=[],
    keywords=cfg['keywords'].split(),
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name'] + '.*']),
    include_package_data=True,
    python_requires='>=' + cfg['min_python'],
    install_requires=cfg['requirements'].split(),
    extras_require={'dev': cfg['dev_requirements'].split(), 'cuda': cfg['cuda_requirements'].split(),
                    'mpi': cfg['mpi_requirements'].split()},
    zip_safe=False,
    entry_points={'nbdev': [f"{cfg['lib_name']}={cfg['lib_name']}._modidx:d"],
                  'console_scripts': cfg.get('console_scripts', '').split()},
)
